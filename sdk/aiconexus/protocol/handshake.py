"""The IoAP opening handshake, both sides, without I/O: CHALLENGE -> REGISTER -> REGISTERED.

Frames in, frames and results out; nothing here awaits or touches a socket, so the SDK, the
gateway and test clients all drive the same checks, and their tests need no event loop.

The agent's side, :class:`ClientHandshake`::

    handshake = ClientHandshake(identity, capabilities=["search"])
    register = handshake.receive_challenge(await ws.recv())    # checks the CHALLENGE
    await ws.send(register.to_json())
    registered = handshake.receive_reply(await ws.recv())      # REGISTERED, or raises

The gateway's side, :class:`ServerHandshake`::

    handshake = ServerHandshake(frames, clock_skew_s=300)
    await ws.send(handshake.challenge())
    try:
        registration = handshake.receive_register(await ws.recv())
    except IoapError as exc:
        refusal = handshake.refuse(exc, sender=..., correlation_id=...)  # ERROR + close 1008

A failed check raises the :class:`~.errors.IoapError` whose code the wire reports (the
gateway's side, and an ERROR answering REGISTER on the agent's side) or, on the agent's side,
:class:`~.errors.HandshakeError` when the gateway's frames break the protocol.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Protocol

from .close import CloseCode, close_reason
from .constants import MessageType
from .did import b64url_encode, is_valid_did, public_key_from_did, public_key_from_text
from .envelope import Message
from .errors import (
    DidMismatchError,
    HandshakeError,
    IoapError,
    MalformedMessageError,
    NotRegisteredError,
    UnauthorizedError,
    error_from_code,
)
from .identity import Identity
from .wire import parse_envelope

__all__ = [
    "DEFAULT_CLOCK_SKEW_S",
    "ClientHandshake",
    "ClientState",
    "FrameWriter",
    "IdentityFrames",
    "PayloadCheck",
    "Refusal",
    "Registered",
    "Registration",
    "ServerHandshake",
    "ServerState",
    "new_nonce",
    "verify_register",
]

DEFAULT_CLOCK_SKEW_S = 300.0
"""Largest accepted distance between a frame's timestamp and the receiver's clock."""

PayloadCheck = Callable[[dict[str, Any]], None]
"""An extra check of a REGISTER payload (e.g. the gateway's size bounds); raises IoapError."""


def new_nonce() -> str:
    """A fresh CHALLENGE nonce: 32 random bytes, unpadded base64url."""
    return b64url_encode(secrets.token_bytes(32))


# -- the agent's side --------------------------------------------------------------------------
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
    is refused). ``clock_skew_s``: how far the gateway's timestamps may be from this clock.
    """

    def __init__(
        self,
        identity: Identity,
        *,
        capabilities: Sequence[str] = (),
        metadata: Mapping[str, Any] | None = None,
        recipient_acks: bool = False,
        gateway_did: str | None = None,
        clock_skew_s: float = DEFAULT_CLOCK_SKEW_S,
    ) -> None:
        self.identity = identity
        self.capabilities = list(capabilities)
        self.metadata = dict(metadata or {})
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
            "metadata": dict(self.metadata),
        }
        if self.recipient_acks:
            payload["recipient_acks"] = True
        payload.update(overrides)
        gateway = self.challenge.from_
        self.register = Message.create(self.identity, MessageType.REGISTER, gateway, payload)
        return self.register

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


# -- the gateway's side ------------------------------------------------------------------------
class FrameWriter(Protocol):
    """What writes the gateway's signed frames (the gateway's ``GatewayFrames`` is one)."""

    @property
    def did(self) -> str:
        """The DID the frames are signed by."""
        ...

    def build(
        self,
        kind: MessageType,
        to: str | None,
        payload: dict[str, Any],
        correlation_id: str | None = None,
    ) -> str:
        """The text of a signed frame."""
        ...


class IdentityFrames:
    """A plain :class:`FrameWriter`: frames signed by ``identity`` with :meth:`Message.create`."""

    def __init__(self, identity: Identity) -> None:
        self.identity = identity

    @property
    def did(self) -> str:
        """The DID of ``identity``."""
        return self.identity.did

    def build(
        self,
        kind: MessageType,
        to: str | None,
        payload: dict[str, Any],
        correlation_id: str | None = None,
    ) -> str:
        """A signed frame's text (canonical JSON)."""
        message = Message.create(self.identity, kind, to, payload, correlation_id=correlation_id)
        return message.to_json()


class ServerState(Enum):
    """Where the gateway is in one connection's opening handshake."""

    NEW = "new"
    CHALLENGE_SENT = "challenge sent"
    ACCEPTED = "accepted"
    """The REGISTER passed every check of the protocol (the gateway's own may follow)."""
    REFUSED = "refused"


@dataclass(frozen=True, slots=True, kw_only=True)
class Registration:
    """An accepted REGISTER: who registered and what it announced."""

    did: str
    capabilities: tuple[str, ...]
    metadata: dict[str, Any]
    recipient_acks: bool
    """True when the REGISTER asked for recipient acknowledgements."""
    public_key: bytes
    """The Ed25519 public key of ``did`` (what its frames are verified with)."""
    message: Message
    """The REGISTER frame itself; REGISTERED answers its ``id``."""

    @classmethod
    def of(cls, message: Message) -> Registration:
        """The registration a verified REGISTER ``message`` asks for."""
        payload = message.payload
        return cls(
            did=message.from_,
            capabilities=tuple(payload.get("capabilities") or ()),
            metadata=dict(payload.get("metadata") or {}),
            recipient_acks=payload.get("recipient_acks") is True,
            public_key=public_key_from_did(message.from_),
            message=message,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Refusal:
    """How to refuse a handshake: ``frame`` (an ERROR, or None), then close ``code``/``reason``."""

    error: IoapError
    frame: str | None
    """ERROR to the sender; None when no sender DID is known (``to`` is null only on CHALLENGE)."""
    code: CloseCode
    reason: str


class ServerHandshake:
    """The gateway's side of the opening handshake (see the module).

    ``check_payload`` runs on the REGISTER payload after the envelope, type and ``from``
    checks and before the payload schema and signature (cheap bounds first).
    """

    def __init__(
        self,
        frames: FrameWriter,
        *,
        nonce: str | None = None,
        clock_skew_s: float = DEFAULT_CLOCK_SKEW_S,
        check_payload: PayloadCheck | None = None,
    ) -> None:
        self.frames = frames
        self.nonce = nonce or new_nonce()
        self.clock_skew_s = clock_skew_s
        self.check_payload = check_payload
        self.state = ServerState.NEW
        self.registration: Registration | None = None

    def challenge(self) -> str:
        """The signed CHALLENGE frame to send first (``to`` null)."""
        _expect(self.state, ServerState.NEW)
        frame = self.frames.build(MessageType.CHALLENGE, None, {"nonce": self.nonce})
        self.state = ServerState.CHALLENGE_SENT
        return frame

    def receive_register(self, text: str, *, now: datetime | None = None) -> Registration:
        """Check the first frame; the accepted :class:`Registration`, or the IoapError to answer."""
        _expect(self.state, ServerState.CHALLENGE_SENT)
        try:
            registration = verify_register(
                text,
                nonce=self.nonce,
                gateway_did=self.frames.did,
                clock_skew_s=self.clock_skew_s,
                check_payload=self.check_payload,
                now=now,
            )
        except BaseException:
            self.state = ServerState.REFUSED
            raise
        self.state = ServerState.ACCEPTED
        self.registration = registration
        return registration

    def refuse(
        self, error: IoapError, *, sender: str | None = None, correlation_id: str | None = None
    ) -> Refusal:
        """Refuse the handshake with ``error``: ERROR to ``sender`` if known, then close 1008."""
        self.state = ServerState.REFUSED
        frame = None
        if sender is not None:
            payload = error.to_payload()
            frame = self.frames.build(MessageType.ERROR, sender, payload, correlation_id)
        return Refusal(
            error=error,
            frame=frame,
            code=CloseCode.POLICY_VIOLATION,
            reason=close_reason(error),
        )


def verify_register(
    text: str,
    *,
    nonce: str,
    gateway_did: str,
    clock_skew_s: float = DEFAULT_CLOCK_SKEW_S,
    check_payload: PayloadCheck | None = None,
    now: datetime | None = None,
) -> Registration:
    """Every protocol check of a REGISTER answering CHALLENGE ``nonce``, in PROTOCOL.md 7.2 order.

    Envelope shape, type (NOT_REGISTERED), ``from`` a did:key, ``check_payload``, payload
    schema and timestamp format, signature, ``public_key``, ``to``, nonce, freshness.
    """
    envelope = parse_envelope(text)
    if envelope.type != MessageType.REGISTER:
        raise NotRegisteredError("the first frame must be REGISTER")
    if not is_valid_did(envelope.sender):
        raise MalformedMessageError("from is not an Ed25519 did:key")
    if check_payload is not None:
        check_payload(envelope.data["payload"])
    message = Message.from_dict(envelope.data)
    message.verify()
    _check_public_key(message)
    if message.to != gateway_did:
        raise UnauthorizedError("REGISTER must be addressed to the gateway")
    if message.payload.get("nonce") != nonce:
        raise UnauthorizedError("nonce does not match the CHALLENGE")
    message.check_fresh(now, skew_s=clock_skew_s)
    return Registration.of(message)


def _check_public_key(message: Message) -> None:
    """MALFORMED_MESSAGE / DID_MISMATCH for a ``public_key`` that is not the DID's key."""
    claimed = message.payload.get("public_key")
    if claimed is None:
        return
    try:
        key = public_key_from_text(claimed)
    except ValueError as exc:
        raise MalformedMessageError(f"public_key: {exc}") from None
    if key != public_key_from_did(message.from_):
        raise DidMismatchError("public_key does not match the DID")
