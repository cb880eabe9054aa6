"""The agent's side of the opening handshake, without I/O (see :mod:`.handshake`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from .agent_card import CARD_METADATA_KEY, AgentCardSpec, signed_agent_card
from .constants import DEFAULT_CLOCK_SKEW_S, MessageType
from .did import is_valid_did
from .envelope import Message
from .errors import HandshakeError, IoapError, MalformedMessageError, error_from_code
from .identity import Identity

__all__ = ["ClientHandshake", "ClientState", "Registered"]


class ClientState(Enum):
    """Where an agent is in its opening handshake."""

    AWAITING_CHALLENGE = "awaiting challenge"
    AWAITING_REPLY = "awaiting reply"
    """REGISTER is built and should be on its way; REGISTERED or ERROR comes next."""
    REGISTERED = "registered"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class Registered:
    """What the gateway's REGISTERED granted."""

    gateway_did: str
    session_id: str
    heartbeat_interval_s: float
    queued: int
    """Stored frames that follow REGISTERED."""
    recipient_acks: bool
    """True when asked for and confirmed: the agent acknowledges what it receives."""
    message: Message
    """The REGISTERED frame itself."""


class ClientHandshake:
    """The agent's side of the opening handshake (see the module).

    ``gateway_did``: the gateway's DID when known in advance (a CHALLENGE from any other key
    is refused). ``agent_card``: when the CHALLENGE announces a ``public_url``, the REGISTER
    metadata carries the agent's A2A card built from it and signed by ``identity``.
    ``clock_skew_s``: how far the gateway's timestamps may be from this clock.
    """

    def __init__(
        self,
        identity: Identity,
        *,
        capabilities: Sequence[str] = (),
        metadata: Mapping[str, Any] | None = None,
        capability_info: Mapping[str, Mapping[str, Any]] | None = None,
        recipient_acks: bool = False,
        gateway_did: str | None = None,
        clock_skew_s: float = DEFAULT_CLOCK_SKEW_S,
        agent_card: AgentCardSpec | None = None,
    ) -> None:
        self.identity = identity
        self.agent_card = agent_card
        self.capabilities = list(capabilities)
        self.metadata = dict(metadata or {})
        self.capability_info = {name: dict(info) for name, info in (capability_info or {}).items()}
        self.recipient_acks = recipient_acks
        self.pinned_gateway_did = gateway_did
        self.clock_skew_s = clock_skew_s
        self.state = ClientState.AWAITING_CHALLENGE
        self.challenge: Message | None = None
        """The verified CHALLENGE, once received."""
        self.register: Message | None = None
        """The REGISTER that REGISTERED must answer (the last one built)."""

    @property
    def gateway_did(self) -> str | None:
        """The DID of the gateway that sent the CHALLENGE (None before)."""
        return None if self.challenge is None else self.challenge.from_

    def receive_challenge(self, frame: str | bytes, *, now: datetime | None = None) -> Message:
        """Check the CHALLENGE and return the signed REGISTER to send.

        Raises MalformedMessageError (not an envelope), HandshakeError (not a CHALLENGE, not
        from a valid or the pinned DID, bad signature) or ClockSkewError.
        """
        _expect(self.state, ClientState.AWAITING_CHALLENGE)
        with self._failing():
            challenge = _parse(frame)
            self._check_challenge(challenge)
            _verify(challenge, self.clock_skew_s, now)
        self.challenge = challenge
        self.state = ClientState.AWAITING_REPLY
        return self.register_message()

    def _check_challenge(self, challenge: Message) -> None:
        if challenge.type != MessageType.CHALLENGE or challenge.to is not None:
            raise HandshakeError(f"expected a CHALLENGE, got {challenge.type}")
        if not is_valid_did(challenge.from_):
            raise HandshakeError("the CHALLENGE is not from a valid did:key")
        pinned = self.pinned_gateway_did
        if pinned is not None and challenge.from_ != pinned:
            raise HandshakeError(
                f"the gateway's DID is {challenge.from_}, expected the pinned {pinned}"
            )

    def register_message(self, **overrides: Any) -> Message:
        """A signed REGISTER answering the CHALLENGE; ``overrides`` replace payload fields.

        (Overrides are for tests that send what a correct agent would not.)
        """
        if self.challenge is None:
            raise RuntimeError("no CHALLENGE received yet")
        payload: dict[str, Any] = {
            "nonce": self.challenge.payload["nonce"],
            "capabilities": list(self.capabilities),
            "metadata": self._metadata(self.challenge.payload.get("public_url")),
        }
        if self.capability_info:
            payload["capability_info"] = dict(self.capability_info)
        if self.recipient_acks:
            payload["recipient_acks"] = True
        payload.update(overrides)
        gateway = self.challenge.from_
        self.register = Message.create(self.identity, MessageType.REGISTER, gateway, payload)
        return self.register

    def _metadata(self, public_url: object) -> dict[str, Any]:
        metadata = dict(self.metadata)
        if self.agent_card is not None and isinstance(public_url, str):
            metadata.setdefault(
                CARD_METADATA_KEY, signed_agent_card(self.identity, self.agent_card, public_url)
            )
        return metadata

    def receive_reply(self, frame: str | bytes, *, now: datetime | None = None) -> Registered:
        """Check the answer to REGISTER: the :class:`Registered` grant, or raise.

        An ERROR raises its protocol error (``UnauthorizedError``, ``ClockSkewError`` ...);
        anything but a verified REGISTERED answering the REGISTER raises HandshakeError.
        """
        _expect(self.state, ClientState.AWAITING_REPLY)
        assert self.register is not None
        with self._failing():
            answer = _parse(frame)
            if answer.from_ != self.gateway_did or answer.to != self.identity.did:
                raise HandshakeError("unexpected frame before REGISTERED")
            _verify(answer, self.clock_skew_s, now)
            if answer.type == MessageType.ERROR:
                payload = answer.payload
                raise error_from_code(payload["code"], payload["message"], payload.get("details"))
            if answer.type != MessageType.REGISTERED or answer.correlation_id != self.register.id:
                raise HandshakeError(f"expected REGISTERED, got {answer.type}")
        self.state = ClientState.REGISTERED
        return self._registered(answer)

    def _registered(self, answer: Message) -> Registered:
        payload = answer.payload
        return Registered(
            gateway_did=answer.from_,
            session_id=str(payload["session_id"]),
            heartbeat_interval_s=float(payload["heartbeat_interval_s"]),
            queued=int(payload["queued"]),
            recipient_acks=self.recipient_acks and payload.get("recipient_acks") is True,
            message=answer,
        )

    @contextmanager
    def _failing(self) -> Iterator[None]:
        try:
            yield
        except BaseException:
            self.state = ClientState.FAILED
            raise


def _parse(frame: str | bytes) -> Message:
    if not isinstance(frame, str):
        raise MalformedMessageError("the gateway sent a binary frame")
    return Message.parse(frame)


def _verify(message: Message, clock_skew_s: float, now: datetime | None) -> None:
    try:
        message.verify()
    except IoapError as exc:
        raise HandshakeError(f"{message.type} failed verification: {exc}") from exc
    message.check_fresh(now, skew_s=clock_skew_s)


def _expect(state: Enum, expected: Enum) -> None:
    if state is not expected:
        raise RuntimeError(f"the handshake is {state.value}, not {expected.value}")
