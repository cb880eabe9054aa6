"""The gateway's side of the opening handshake, without I/O (see :mod:`.handshake`)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Protocol

from .close import CloseCode, close_reason
from .constants import DEFAULT_CLOCK_SKEW_S, MessageType
from .did import b64url_encode, is_valid_did, public_key_from_did, public_key_from_text
from .envelope import Message
from .errors import (
    DidMismatchError,
    IoapError,
    MalformedMessageError,
    NotRegisteredError,
    UnauthorizedError,
)
from .identity import Identity
from .wire import parse_envelope

__all__ = [
    "FrameWriter",
    "IdentityFrames",
    "PayloadCheck",
    "Refusal",
    "Registration",
    "ServerHandshake",
    "ServerState",
    "new_nonce",
    "verify_register",
]

PayloadCheck = Callable[[dict[str, Any]], None]
"""An extra check of a REGISTER payload (e.g. the gateway's size bounds); raises IoapError."""


def new_nonce() -> str:
    """A fresh CHALLENGE nonce: 32 random bytes, unpadded base64url."""
    return b64url_encode(secrets.token_bytes(32))


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
    capability_info: dict[str, Any] = field(default_factory=dict)
    """The declarations of ``capability_info`` (capability name -> declaration)."""

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
            capability_info=dict(payload.get("capability_info") or {}),
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

    ``public_url``: the gateway's public base URL, announced in the CHALLENGE (agents build
    their A2A card's URLs from it). ``check_payload`` runs on the REGISTER payload after the
    envelope, type and ``from`` checks and before the payload schema and signature (cheap
    bounds first).
    """

    def __init__(
        self,
        frames: FrameWriter,
        *,
        nonce: str | None = None,
        clock_skew_s: float = DEFAULT_CLOCK_SKEW_S,
        check_payload: PayloadCheck | None = None,
        public_url: str | None = None,
    ) -> None:
        self.frames = frames
        self.public_url = public_url
        self.nonce = nonce or new_nonce()
        self.clock_skew_s = clock_skew_s
        self.check_payload = check_payload
        self.state = ServerState.NEW
        self.registration: Registration | None = None

    def challenge(self) -> str:
        """The signed CHALLENGE frame to send first (``to`` null)."""
        _expect(self.state, ServerState.NEW)
        payload: dict[str, Any] = {"nonce": self.nonce}
        if self.public_url is not None:
            payload["public_url"] = self.public_url
        frame = self.frames.build(MessageType.CHALLENGE, None, payload)
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


def _expect(state: Enum, expected: Enum) -> None:
    if state is not expected:
        raise RuntimeError(f"the handshake is {state.value}, not {expected.value}")
