"""The signed envelope: the one ``Message`` type used by the SDK and the gateway alike."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from .constants import MAX_ID_LENGTH, PROTOCOL_VERSION, MessageType
from .did import b64url_decode, b64url_encode, public_key_from_did
from .ed25519 import verify_ed25519
from .errors import (
    ClockSkewError,
    InvalidSignatureError,
    MalformedMessageError,
)
from .identity import Identity
from .jcs import canonicalize
from .payloads import validate_payload
from .sealed import (
    SEALABLE_TYPES,
    KeyAgreement,
    check_payload,
    is_sealed,
    open_payload,
    seal_payload,
)
from .timestamps import epoch_seconds, format_timestamp, parse_timestamp
from .wire import Envelope, check_envelope, parse_envelope, signed_frame, signing_bytes

__all__ = ["Message"]

_ALL_FIELDS = frozenset(
    ("version", "id", "type", "from_", "to", "timestamp", "correlation_id", "payload", "signature")
)
_UNCORRELATED_FIELDS = _ALL_FIELDS - {"correlation_id"}
_MESSAGE_TYPES = {str(member): member for member in MessageType}


def _private_defaults(raw: dict[str, Any] | None) -> dict[str, Any]:
    """The private attributes of a new Message: caches empty, ``_raw`` the envelope object."""
    return {
        "_raw": raw,
        "_signing_bytes": None,
        "_opened": False,
        "_json": None,
        "_sent_s": None,
        "_wire": None,
    }


def _new_id() -> str:
    """A random UUID (version 4) as text: a new message id.

    ``str(uuid.uuid4())``, formatted without building a UUID object.
    """
    octets = bytearray(os.urandom(16))
    octets[6] = (octets[6] & 0x0F) | 0x40  # version 4
    octets[8] = (octets[8] & 0x3F) | 0x80  # RFC 4122 variant
    text = octets.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


class Message(BaseModel):
    """A signed IoAP envelope. Immutable; build with :meth:`create`, read with :meth:`parse`."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid", strict=True)

    version: str
    id: str = Field(min_length=1, max_length=MAX_ID_LENGTH)
    type: MessageType = Field(strict=False)
    from_: str = Field(alias="from")
    to: str | None
    timestamp: str
    correlation_id: str | None = Field(default=None, min_length=1, max_length=MAX_ID_LENGTH)
    payload: dict[str, Any]
    signature: str

    _raw: dict[str, Any] | None = PrivateAttr(default=None)
    _signing_bytes: bytes | None = PrivateAttr(default=None)
    _opened: bool = PrivateAttr(default=False)
    _json: str | None = PrivateAttr(default=None)
    _sent_s: float | None = PrivateAttr(default=None)
    _wire: Envelope | None = PrivateAttr(default=None)
    # Private attributes are read through ``__pydantic_private__`` below: the attribute
    # syntax goes through BaseModel.__getattr__ and costs microseconds per read.

    # construction --------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        identity: Identity,
        type: MessageType | str,
        to: str | None,
        payload: dict[str, Any] | None = None,
        *,
        correlation_id: str | None = None,
        id: str | None = None,
        timestamp: str | datetime | None = None,
        encrypt: bool = False,
    ) -> Message:
        """Build and sign a message from ``identity``; the payload is checked against its type.

        ``encrypt``: seal the payload for ``to`` (PROTOCOL.md 8.10) before signing; only for
        the types of :data:`SEALABLE_TYPES`. A payload already in the encrypted form is
        checked for its shape and signed as it is.
        """
        message_type = MessageType(type)
        body = dict(payload or {})
        if encrypt and (message_type not in SEALABLE_TYPES or to is None):
            raise ValueError(f"{message_type} frames cannot be encrypted (peer types only)")
        if encrypt:
            validate_payload(message_type, body)
        else:
            check_payload(message_type, body)
        envelope: dict[str, Any] = {
            "version": PROTOCOL_VERSION,
            "id": id or _new_id(),
            "type": str(message_type),
            "from": identity.did,
            "to": to,
            "timestamp": timestamp if isinstance(timestamp, str) else format_timestamp(timestamp),
        }
        if correlation_id is not None:
            envelope["correlation_id"] = correlation_id
        envelope["payload"] = seal_payload(body, envelope) if encrypt else body
        try:
            signing = canonicalize(envelope)
        except ValueError as exc:
            raise MalformedMessageError(f"payload is not I-JSON: {exc}") from None
        envelope["signature"] = signature = b64url_encode(identity.sign(signing))
        message = cls._from_dict(envelope)
        private = message._private()
        private["_signing_bytes"] = signing
        private["_json"] = signed_frame(signing, signature)
        return message

    @classmethod
    def parse(cls, frame: str | bytes) -> Message:
        """Parse a received frame: envelope shape and payload schema (not the signature)."""
        if isinstance(frame, bytes | bytearray):
            try:
                frame = frame.decode("utf-8")
            except UnicodeDecodeError:
                raise MalformedMessageError("frame is not UTF-8") from None
        envelope = parse_envelope(frame)
        message = cls._checked(envelope.data)
        message._private()["_wire"] = envelope  # cuts the signing bytes out of the frame
        return message

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Message:
        """Validate an already-parsed envelope object (as :meth:`parse` does after JSON)."""
        check_envelope(data)
        return cls._checked(data)

    @classmethod
    def _checked(cls, data: dict[str, Any]) -> Message:
        """The message of an envelope object already through ``check_envelope``."""
        message = cls._from_dict(data, shape_checked=True)
        # MalformedMessageError unless RFC 3339 UTC; kept for sent_at_s
        message._private()["_sent_s"] = epoch_seconds(message.timestamp)
        check_payload(message.type, message.payload)
        return message

    @classmethod
    def _from_dict(cls, data: dict[str, Any], *, shape_checked: bool = False) -> Message:
        """The message of an envelope object; MalformedMessageError unless it has its shape.

        The model's constraints are exactly :func:`~aiconexus.protocol.wire.check_envelope`'s
        (tests/protocol/test_message_build.py holds them side by side), so the fields are
        set after that check without a second validation by the model.
        """
        if not shape_checked:
            check_envelope(data)
        message = cls.__new__(cls)
        fields = {
            "version": data["version"],
            "id": data["id"],
            "type": _MESSAGE_TYPES[data["type"]],
            "from_": data["from"],
            "to": data["to"],
            "timestamp": data["timestamp"],
            "correlation_id": data.get("correlation_id"),
            "payload": data["payload"],
            "signature": data["signature"],
        }
        setattr_ = object.__setattr__
        setattr_(message, "__dict__", fields)
        setattr_(
            message,
            "__pydantic_fields_set__",
            set(_ALL_FIELDS if "correlation_id" in data else _UNCORRELATED_FIELDS),
        )
        setattr_(message, "__pydantic_extra__", None)
        private = _private_defaults(data)
        setattr_(message, "__pydantic_private__", private)
        return message

    def __eq__(self, other: object) -> bool:
        """Equal envelopes: the same fields, both decrypted or neither (caches left aside)."""
        if not isinstance(other, Message):
            return NotImplemented
        return (
            self.__dict__ == other.__dict__
            and self._private()["_opened"] == other._private()["_opened"]
        )

    # encrypted payloads ----------------------------------------------------------------------
    @property
    def encrypted(self) -> bool:
        """True if the payload travels encrypted (decrypted already or not)."""
        opened: bool = self._private()["_opened"]
        return opened or (self.type in SEALABLE_TYPES and is_sealed(self.payload))

    def decrypt(self, identity: KeyAgreement) -> Message:
        """A copy of this received encrypted message, its payload decrypted by ``identity``.

        The result's ``payload`` is the plain payload (checked against its type's schema) and
        ``encrypted`` stays True; :meth:`to_dict`, :meth:`to_json` and :meth:`verify` still
        see the frame as received. DecryptionError (a MalformedMessageError) when it does not
        open; MalformedMessageError when the plain payload does not fit its type.
        """
        wire = self.to_dict()
        plain = open_payload(wire, identity)
        message = Message._from_dict({**wire, "payload": plain})
        private = message._private()
        private["_raw"] = wire
        private["_signing_bytes"] = self._private()["_signing_bytes"]
        private["_opened"] = True
        return message

    # wire ----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The envelope as a JSON object (exactly as received, for parsed messages)."""
        raw: dict[str, Any] | None = self._private()["_raw"]
        if raw is not None:
            return dict(raw)
        return self.model_dump(by_alias=True, exclude_none=False, mode="json")

    def to_json(self) -> str:
        """The frame text to send: compact canonical JSON of the whole envelope."""
        private = self._private()
        text: str | None = private["_json"]
        if text is None:
            text = private["_json"] = canonicalize(self.to_dict()).decode("utf-8")
        return text

    def signing_bytes(self) -> bytes:
        """RFC 8785 canonical bytes of the envelope without ``signature``: what is signed."""
        private = self._private()
        signing: bytes | None = private["_signing_bytes"]
        if signing is None:
            wire: Envelope | None = private["_wire"]
            signing = wire.signing_bytes() if wire is not None else signing_bytes(self.to_dict())
            private["_signing_bytes"] = signing
        return signing

    def _private(self) -> dict[str, Any]:
        """The private attributes (one dict read; no BaseModel.__getattr__ per attribute)."""
        private = self.__pydantic_private__
        if private is None:  # built by model_validate / model_construct: defaults
            private = _private_defaults(None)
            object.__setattr__(self, "__pydantic_private__", private)
        return private

    # checks --------------------------------------------------------------------------------
    def verify(self) -> None:
        """Check the signature against the key in ``from``; InvalidSignatureError if it fails.

        A ``from`` that is not an Ed25519 did:key raises MalformedMessageError.
        """
        public_key = public_key_from_did(self.from_)
        try:
            signature = b64url_decode(self.signature)
        except ValueError:
            raise InvalidSignatureError("signature is not unpadded base64url") from None
        if len(signature) != 64:
            raise InvalidSignatureError("an Ed25519 signature has 64 bytes")
        if not verify_ed25519(public_key, self.signing_bytes(), signature):
            raise InvalidSignatureError(f"signature of {self.id!r} does not verify")

    def check_fresh(self, now: datetime | None = None, skew_s: float = 300.0) -> None:
        """ClockSkewError unless the timestamp is within ``skew_s`` seconds of ``now``."""
        current = now or datetime.now(UTC)
        drift = abs((current - self.sent_at).total_seconds())
        if drift > skew_s:
            raise ClockSkewError(
                f"timestamp {self.timestamp} is {drift:.0f}s from the receiver's clock "
                f"(allowed: {skew_s:g}s)",
                details={"allowed_skew_s": skew_s},
            )

    @property
    def sent_at(self) -> datetime:
        """The timestamp as an aware UTC datetime."""
        return parse_timestamp(self.timestamp)

    @property
    def sent_at_s(self) -> float:
        """The timestamp in seconds since the epoch (``sent_at.timestamp()``, cheaper)."""
        private = self._private()
        seconds: float | None = private["_sent_s"]
        if seconds is None:
            seconds = private["_sent_s"] = epoch_seconds(self.timestamp)
        return seconds

    # replies -------------------------------------------------------------------------------
    def reply(
        self,
        identity: Identity,
        type: MessageType | str,
        payload: dict[str, Any] | None = None,
        *,
        encrypt: bool | None = None,
    ) -> Message:
        """A signed message to this message's sender that answers it (``correlation_id`` = id).

        ``encrypt`` defaults to: encrypted when this message was and ``type`` may be.
        """
        if encrypt is None:
            encrypt = self.encrypted and MessageType(type) in SEALABLE_TYPES
        return Message.create(
            identity, type, self.from_, payload, correlation_id=self.id, encrypt=encrypt
        )

    def answer(self, identity: Identity, sdp: str, **extra: Any) -> Message:
        """An ANSWER to this OFFER."""
        return self.reply(identity, MessageType.ANSWER, {"sdp": sdp, **extra})

    def exec_response(
        self,
        identity: Identity,
        result: Any = None,
        *,
        error: Any = None,
        execution_time_ms: float | None = None,
    ) -> Message:
        """An EXEC_RESPONSE to this EXEC_REQUEST: ``success`` unless ``error`` is given."""
        payload: dict[str, Any] = {"status": "error" if error is not None else "success"}
        if error is not None:
            payload["error"] = error
        else:
            payload["result"] = result
        if execution_time_ms is not None:
            payload["execution_time_ms"] = execution_time_ms
        return self.reply(identity, MessageType.EXEC_RESPONSE, payload)

    def pong(self, identity: Identity) -> Message:
        """A PONG to this PING, echoing its ``sequence``."""
        sequence = self.payload.get("sequence")
        payload = {} if sequence is None else {"sequence": sequence}
        return self.reply(identity, MessageType.PONG, payload)
