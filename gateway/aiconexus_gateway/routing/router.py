"""The per-frame path of a registered session: the five checks, then delivery or storage.

Checks run in the order of the wire contract: ``from`` is the session's DID (DID_MISMATCH),
the signature verifies (INVALID_SIGNATURE), the timestamp is fresh (CLOCK_SKEW), the payload
fits its type (MALFORMED_MESSAGE), and the (from, id) pair is new (REPLAY_DETECTED; checked
last so that a rejected frame does not use up its id). Between the two, the access policy
(when ``POLICY_FILE`` is set) may refuse a frame for another agent (UNAUTHORIZED).

The one gateway type an agent may send is a recipient acknowledgement: ``ACK`` addressed to
the gateway with ``{"status": "received", "ids": [...]}``, on a session that asked for
recipient acknowledgements. It passes the same checks except the replay check (it is never
answered and only takes frames out of this session's in-flight window), then goes to
:meth:`.delivery.Delivery.acknowledged`, whose verdict the hub acts on. Any other ACK from an
agent is refused with UNAUTHORIZED.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from time import perf_counter
from typing import Any

import orjson

from aiconexus.protocol import (
    GATEWAY_TYPES,
    MAX_ID_LENGTH,
    CloseCode,
    Envelope,
    ErrorCode,
    IoapError,
    MessageType,
    b64url_decode,
    epoch_seconds,
    error_from_code,
    is_valid_did,
    parse_envelope,
)
from aiconexus_gateway.backend.base import BackendUnavailableError
from aiconexus_gateway.guards.policy_file import refusal_message
from aiconexus_gateway.guards.ratelimit import check_both
from aiconexus_gateway.guards.signatures import verify_signature
from aiconexus_gateway.guards.sizes import utf8_length_over

from .delivery import recipient_ack_ids
from .hub import Hub
from .outgoing import Kind, Outgoing
from .parts import Parts
from .replies import Replies
from .session import Session

__all__ = ["GUESS_PARSE_LIMIT", "Router", "guess_id"]

logger = logging.getLogger("aiconexus.gateway")

_GATEWAY_ONLY = frozenset(t.value for t in GATEWAY_TYPES)
_WHILE_STOPPING = frozenset({MessageType.ACK, MessageType.PING, MessageType.UNREGISTER})
"""Frames still handled while the gateway drains (see :mod:`.drain`)."""


GUESS_PARSE_LIMIT = 16384
"""Longest refused frame parsed again to read its id; longer ones are searched instead."""
_ID_FIELD = re.compile(r'"id"\s*:\s*"([^"\\]{1,' + str(MAX_ID_LENGTH) + r'})"')
"""An unescaped string ``"id"`` member: the fallback when a frame is not valid JSON."""


def guess_id(text: str | bytes) -> str | None:
    """The ``id`` of a rejected frame when it can be read, for the ERROR's correlation_id.

    A frame that orjson refuses (a number like ``1e400``, an escaped lone surrogate, a
    binary frame...) or a large one (not parsed twice) is searched for its first
    ``"id": "..."`` member instead (in canonical JSON the envelope's ``id`` comes before the
    payload).
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    data = None
    if len(text) <= GUESS_PARSE_LIMIT:
        with contextlib.suppress(orjson.JSONDecodeError):
            data = orjson.loads(text)
    if isinstance(data, dict):
        value = data.get("id")
        if isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH:
            return value
        return None
    found = _ID_FIELD.search(text)
    return found.group(1) if found else None


class Router:
    """Checks and routes the frames of registered sessions."""

    def __init__(self, parts: Parts, hub: Hub, replies: Replies) -> None:
        settings = parts.settings
        guards = parts.guards
        self.hub = hub
        self.replies = replies
        self.backend = parts.backend
        self.uncertain = parts.uncertain
        self.node = parts.node
        self.node_id = parts.node_id
        self.storing = settings.storing_enabled
        self.policy = guards.policy
        self.gateway_did = parts.did
        self.max_size = settings.max_message_size
        self.verify = settings.verify_signatures
        self.validate_dids = settings.validate_dids
        self.skew = settings.clock_skew
        self.window = settings.replay_window
        self.crypto = parts.crypto
        self.metrics = parts.metrics
        self.debug = logger.isEnabledFor(logging.DEBUG)
        self.limits = guards.rate_limits
        self.address_limits = guards.address_rate_limits
        self.limited = self.limits is not None or self.address_limits is not None
        self.refusals = guards.refusals
        self.payloads = guards.payloads
        self.frames = parts.frames

    async def handle(
        self, session: Session, text: str, previous: asyncio.Future[None] | None = None
    ) -> None:
        """Check one text frame from ``session`` and route it or answer ERROR.

        ``previous``: the handling of the connection's previous frame when the reader does not
        wait for it (a backend whose replay check is a round trip). This frame's checks and
        replay check run at once; what follows waits for ``previous``, so frames of one
        connection are routed in the order they came.
        """
        received = perf_counter()
        replies = self.replies
        self.metrics.bytes_in += len(text)
        if utf8_length_over(text, self.max_size):
            message = f"frame exceeds the maximum size of {self.max_size} bytes"
            details = {"max_message_size": self.max_size}
            too_large = _error(ErrorCode.MESSAGE_TOO_LARGE, message, details)
            replies.reject(session, too_large, guess_id(text))
            return
        try:
            envelope = parse_envelope(text)
        except IoapError as exc:
            replies.reject(session, exc, guess_id(text))
            return
        if self.node.stopping and envelope.type not in _WHILE_STOPPING:
            return  # draining: not taken (no ACK, no ERROR), sent again after reconnecting
        if self.limited and self._over_rate(session, envelope, len(text)):
            return
        try:
            self._check_addressing(session, envelope)
            if self.verify:
                signature, signing = _signature_parts(envelope)
                begun = perf_counter()
                if self.crypto.inline:
                    valid = verify_signature(session.public_key, signing, signature)
                else:  # this turn's batch, off the loop; verdicts come back in frame order
                    valid = await self.crypto.verify(session.public_key, signing, signature)
                self.metrics.verify_time.observe(perf_counter() - begun)
                if not valid:
                    raise _error(ErrorCode.INVALID_SIGNATURE, "signature does not verify")
        except IoapError as exc:  # nothing verified: counts against the refusal bounds
            self._count(envelope, "rejected")
            replies.reject(session, exc, envelope.id, verified=False)
            return
        if envelope.type == MessageType.ACK:
            self._recipient_ack(session, envelope)
            return
        try:
            self._check_content(envelope)
        except IoapError as exc:
            self._count(envelope, "rejected")
            replies.reject(session, exc, envelope.id)
            return
        self.refusals.accepted(session.refusals)
        if self.policy is not None and envelope.recipient != self.gateway_did:
            rule = self.policy.refusal(
                envelope.sender, envelope.recipient or "", session.capabilities, envelope.type
            )
            if rule is not None:
                refused = _error(ErrorCode.UNAUTHORIZED, refusal_message(rule), {"rule": rule})
                replies.reject(session, refused, envelope.id)
                return
        try:
            fresh = await self.backend.first_seen(envelope.sender, envelope.id, self.window)
            if not fresh:
                fresh = await self._seen_again(envelope.sender, envelope.id)
        except BackendUnavailableError as exc:
            failed = _error(ErrorCode.INTERNAL_ERROR, f"backend unavailable: {exc}")
            self.uncertain.add(envelope.sender, envelope.id)  # the marker may have been set
            replies.reject(session, failed, envelope.id)
            return
        if previous is not None and not previous.done():
            await asyncio.wait((previous,))
        if not fresh:
            self._count(envelope, "rejected")
            message = f"id {envelope.id!r} was already seen from this sender"
            replies.reject(session, _error(ErrorCode.REPLAY_DETECTED, message), envelope.id)
            return
        if envelope.recipient == self.gateway_did:
            self._for_gateway(session, envelope)
            return
        if not self._route_here(session, envelope, received):
            await self._route_elsewhere(session, envelope, received)

    def _recipient_ack(self, session: Session, envelope: Envelope) -> None:
        """A verified recipient ACK: fresh and well formed, it takes frames out of the window.

        Never answered (but refused like any frame); the session's :class:`~.delivery.Delivery`
        says which frames are delivered now, and the hub acts on that verdict.
        """
        try:
            self._check_fresh(envelope)
            ids = recipient_ack_ids(envelope.data["payload"])
        except IoapError as exc:
            self._count(envelope, "rejected")
            self.replies.reject(session, exc, envelope.id)
            return
        self.refusals.accepted(session.refusals)
        self.hub.delivered(session, session.delivery.acknowledged(ids))

    def _over_rate(self, session: Session, envelope: Envelope, size: int) -> bool:
        """Take the frame from its agent's and its address's buckets, or refuse it (True)."""
        if session.did is None:
            return False
        exempt = envelope.type == "ACK" and envelope.recipient == self.gateway_did
        wait, scope = check_both(
            self.limits,
            session.did,
            self.address_limits,
            session.address,
            size,
            count_frame=not exempt,
        )
        if not wait:
            return False
        whose = "rate limit" if scope == "agent" else "rate limit of this address"
        message = f"{whose} exceeded; retry after {wait} ms"
        details = {"retry_after_ms": wait, "limit": scope}
        self.replies.reject(session, _error(ErrorCode.RATE_LIMITED, message, details), envelope.id)
        return True

    def _check_addressing(self, session: Session, envelope: Envelope) -> None:
        """DID_MISMATCH, UNAUTHORIZED (gateway-only type) or MALFORMED_MESSAGE (bad ``to``)."""
        if envelope.sender != session.did:
            raise _error(ErrorCode.DID_MISMATCH, "from is not the DID this connection registered")
        recipient = envelope.recipient
        if envelope.type in _GATEWAY_ONLY and not (
            envelope.type == MessageType.ACK
            and session.delivery.acknowledging
            and recipient == self.gateway_did
        ):
            raise _error(ErrorCode.UNAUTHORIZED, f"only the gateway sends {envelope.type}")
        if recipient is None:
            raise _error(ErrorCode.MALFORMED_MESSAGE, "to must name the recipient")
        if self.validate_dids and recipient != self.gateway_did and not is_valid_did(recipient):
            message = "to is not a did:key of a usable Ed25519 key"
            raise _error(ErrorCode.MALFORMED_MESSAGE, message)

    def _check_content(self, envelope: Envelope) -> None:
        """CLOCK_SKEW, then MALFORMED_MESSAGE for a payload that does not fit its type.

        (An encrypted payload is checked for its form instead; ENCRYPTION_REQUIRED for a
        plain one the operator refuses, see :mod:`.encryption`.)
        """
        self._check_fresh(envelope)
        self.payloads.check(envelope)

    def _check_fresh(self, envelope: Envelope) -> None:
        """CLOCK_SKEW when the timestamp is too far from the gateway's clock."""
        sent = epoch_seconds(envelope.timestamp)
        drift = abs(time.time() - sent)
        if drift > self.skew:
            raise _error(
                ErrorCode.CLOCK_SKEW,
                f"timestamp is {drift:.0f}s from the gateway's clock (allowed {self.skew:g}s)",
            )

    def _for_gateway(self, session: Session, envelope: Envelope) -> None:
        kind = envelope.type
        if kind == MessageType.PING:
            sequence = envelope.data["payload"].get("sequence")
            pong = self.frames.pong(envelope.sender, envelope.id, sequence)
            self.replies.send_control(session, pong)
        elif kind == MessageType.UNREGISTER:
            self.hub.evict(session, CloseCode.NORMAL_CLOSURE, "unregistered")
        elif kind == MessageType.REGISTER:
            again = _error(ErrorCode.UNAUTHORIZED, "this connection is already registered")
            self.replies.reject(session, again, envelope.id)
        elif kind not in (MessageType.ERROR, MessageType.PONG):
            message = f"the gateway does not take {kind}; only PING and UNREGISTER"
            self.replies.reject(session, _error(ErrorCode.MALFORMED_MESSAGE, message), envelope.id)

    def _count(self, envelope: Envelope, outcome: str) -> None:
        """Count a frame by (type, outcome); log it at DEBUG (never its payload)."""
        kind = envelope.type  # one of the message types: parse_envelope checked it
        self.metrics.frames[(kind, outcome)] += 1
        if self.debug:
            logger.debug(
                "frame",
                extra={
                    "type": kind,
                    "from": envelope.sender,
                    "to": envelope.recipient,
                    "id": envelope.id,
                    "size": len(envelope.text),
                    "outcome": outcome,
                },
            )

    async def _seen_again(self, sender: str, message_id: str) -> bool:
        """The replay check said "seen": True if only a frame answered INTERNAL_ERROR saw it.

        (A copy of such a frame frees its id first, then asks the backend again.)
        """
        backend = self.backend
        uncertain = self.uncertain
        if (sender, message_id) not in uncertain:
            return False
        await uncertain.free(sender, message_id)  # kept when the first copy was taken after all
        return await backend.first_seen(sender, message_id, self.window)

    def _route_here(self, session: Session, envelope: Envelope, received: float) -> bool:
        """Count the frame routed and hand it to a session of this node; False if none has it."""
        recipient = envelope.recipient
        assert recipient is not None and session.did is not None
        self.metrics.routed += 1
        item = Outgoing(
            envelope.text, Kind.LIVE, sender=session.did, message_id=envelope.id, received=received
        )
        if self.hub.deliver(recipient, item):
            self._count(envelope, "delivered")
            return True
        return False

    async def _route_elsewhere(self, session: Session, envelope: Envelope, received: float) -> None:
        """The recipient has no session here: another node's, or the store."""
        hub = self.hub
        recipient = envelope.recipient
        assert recipient is not None and session.did is not None
        item = Outgoing(
            envelope.text, Kind.LIVE, sender=session.did, message_id=envelope.id, received=received
        )
        try:
            owner = await self.backend.owner(recipient)
            remote = owner.node_id if owner is not None and owner.node_id != self.node_id else None
            acks = owner is not None and owner.extra.get("recipient_acks") is True
            if remote and acks and self.storing:
                # Held in the store until that recipient acknowledges it (ACK "queued").
                hub.store(recipient, item)
                return
            if remote and await self.backend.send_to_node(remote, recipient, envelope.text):
                self.metrics.delivered += 1
                self.replies.acknowledge(session.did, envelope.id, "delivered")
                self._count(envelope, "forwarded")
                return
        except BackendUnavailableError as exc:
            logger.warning("cluster lookup of %s failed: %s", recipient, exc)
        if hub.deliver(recipient, item):  # registered here while we looked elsewhere
            self._count(envelope, "delivered")
            return
        hub.store(recipient, item)
        self._count(envelope, "stored")


def _signature_parts(envelope: Envelope) -> tuple[bytes, bytes]:
    """(signature, signing bytes) of a frame; INVALID_SIGNATURE / MALFORMED_MESSAGE."""
    try:
        signature = b64url_decode(envelope.data["signature"])
    except ValueError:
        raise _error(ErrorCode.INVALID_SIGNATURE, "signature is not base64url") from None
    if len(signature) != 64:
        raise _error(ErrorCode.INVALID_SIGNATURE, "an Ed25519 signature has 64 bytes")
    return signature, envelope.signing_bytes()


def _error(code: ErrorCode, message: str, details: Any = None) -> IoapError:
    return error_from_code(code, message, details)
