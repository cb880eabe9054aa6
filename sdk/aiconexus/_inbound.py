"""Checks every incoming frame must pass before the client acts on it or hands it to user code.

Pure: the caller passes the clocks in, so the rules are tested without a gateway.

A frame is accepted when all hold:

* it is addressed to this client's DID;
* it comes from the gateway (the DID learned from CHALLENGE, or pinned) with a gateway
  answer type, or from another agent's well-formed did:key with an agent type;
* its Ed25519 signature verifies against the key in ``from``;
* its timestamp is at most ``clock_skew_s`` in the future, and at most ``clock_skew_s``
  (gateway frames) or ``max_age_s`` (agent frames, which may have waited in the gateway's
  offline store) in the past;
* its ``(from, id)`` was not accepted before within ``max_age_s + clock_skew_s``, so a frame
  re-sent after a lost ACK, or replayed, reaches user code once.
"""

from __future__ import annotations

from datetime import datetime

from aiconexus.protocol import PEER_TYPES, IoapError, Message, MessageType, ReplayWindow

__all__ = ["GATEWAY_ANSWER_TYPES", "PEER_TYPES", "InboundFilter"]

GATEWAY_ANSWER_TYPES = frozenset(
    {MessageType.ACK, MessageType.ERROR, MessageType.PONG, MessageType.REGISTERED}
)
"""Types the gateway sends on an open session."""


class InboundFilter:
    """Decides whether an incoming, parsed frame is authentic, fresh and new."""

    def __init__(
        self,
        own_did: str,
        *,
        clock_skew_s: float = 300.0,
        max_age_s: float = 86_400.0 + 300.0,
        max_remembered: int = 100_000,
    ) -> None:
        self.own_did = own_did
        self.clock_skew_s = clock_skew_s
        self.max_age_s = max(max_age_s, clock_skew_s)
        self._seen = ReplayWindow(self.max_age_s + clock_skew_s, max_remembered)

    def check(
        self, message: Message, gateway_did: str, now: datetime, monotonic_now: float
    ) -> str | None:
        """None if ``message`` may be used, else why it must be dropped.

        ``now`` is the wall clock (aware UTC), ``monotonic_now`` a monotonic clock in seconds.
        An accepted frame is remembered, so the same ``(from, id)`` is refused next time.
        """
        if message.to != self.own_did:
            return f"addressed to {message.to!r}, not to this client"
        from_gateway = message.from_ == gateway_did
        if from_gateway and message.type not in GATEWAY_ANSWER_TYPES:
            return f"the gateway does not send {message.type} on an open session"
        if not from_gateway and message.type not in PEER_TYPES:
            return f"an agent may not send {message.type} to another agent"
        try:
            message.verify()
        except IoapError as exc:
            return f"failed verification ({exc})"
        age = now.timestamp() - message.sent_at_s
        if age < -self.clock_skew_s:
            return f"timestamp {message.timestamp} is {-age:.0f}s in the future"
        limit = self.clock_skew_s if from_gateway else self.max_age_s
        if age > limit:
            return f"timestamp {message.timestamp} is {age:.0f}s old (limit {limit:g}s)"
        if not self._seen.check_and_add(message.from_, message.id, monotonic_now):
            return "duplicate of a frame already received"
        return None

    def remember(self, sender: str, message_id: str, monotonic_now: float) -> None:
        """Treat ``(sender, message_id)`` as received (read back from the duplicate memory)."""
        self._seen.check_and_add(sender, message_id, monotonic_now)

    def forget(self, sender: str, message_id: str) -> None:
        """Accept ``(sender, message_id)`` again: the frame was not kept, its copy is wanted."""
        self._seen.discard(sender, message_id)
