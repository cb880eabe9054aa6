"""The signed envelope: the one ``Message`` type used by the SDK and the gateway alike."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

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
from .timestamps import format_timestamp, parse_timestamp
from .wire import check_envelope, parse_envelope, signing_bytes

__all__ = ["Message"]


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
            "id": id or str(uuid.uuid4()),
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
        envelope["signature"] = b64url_encode(identity.sign(signing))
        message = cls._from_dict(envelope)
        message._signing_bytes = signing
        return message

    @classmethod
    def parse(cls, frame: str | bytes) -> Message:
        """Parse a received frame: envelope shape and payload schema (not the signature)."""
        if isinstance(frame, bytes | bytearray):
            try:
                frame = frame.decode("utf-8")
            except UnicodeDecodeError:
                raise MalformedMessageError("frame is not UTF-8") from None
        return cls._checked(parse_envelope(frame).data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Message:
        """Validate an already-parsed envelope object (as :meth:`parse` does after JSON)."""
        check_envelope(data)
        return cls._checked(data)

    @classmethod
    def _checked(cls, data: dict[str, Any]) -> Message:
        message = cls._from_dict(data)
        parse_timestamp(message.timestamp)
        check_payload(message.type, message.payload)
        return message

    @classmethod
    def _from_dict(cls, data: dict[str, Any]) -> Message:
        try:
            message = cls.model_validate(data)
        except ValidationError as exc:
            problems = [
                f"{'.'.join(str(p) for p in err['loc']) or 'envelope'}: {err['msg']}"
                for err in exc.errors(include_url=False, include_input=False)
            ]
            raise MalformedMessageError(
                "envelope: " + "; ".join(problems), details={"errors": problems}
            ) from None
        message._raw = data
        return message

    # encrypted payloads ----------------------------------------------------------------------
    @property
    def encrypted(self) -> bool:
        """True if the payload travels encrypted (decrypted already or not)."""
        return self._opened or (self.type in SEALABLE_TYPES and is_sealed(self.payload))

    def decrypt(self, identity: KeyAgreement) -> Message:
        """A copy of this received encrypted message, its payload decrypted by ``identity``.

        The result's ``payload`` is the plain payload (checked against its type's schema) and
        ``encrypted`` stays True; :meth:`to_dict`, :meth:`to_json` and :meth:`verify` still
        see the frame as received. DecryptionError (a MalformedMessageError) when it does not
        open; MalformedMessageError when the plain payload does not fit its type.
        """
        wire = self.to_dict()
        plain = open_payload(wire, identity)
        message = Message.model_validate({**wire, "payload": plain})
        message._raw = wire
        message._signing_bytes = self._signing_bytes
        message._opened = True
        return message

    # wire ----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The envelope as a JSON object (exactly as received, for parsed messages)."""
        if self._raw is not None:
            return dict(self._raw)
        return self.model_dump(by_alias=True, exclude_none=False, mode="json")

    def to_json(self) -> str:
        """The frame text to send: compact canonical JSON of the whole envelope."""
        return canonicalize(self.to_dict()).decode("utf-8")

    def signing_bytes(self) -> bytes:
        """RFC 8785 canonical bytes of the envelope without ``signature``: what is signed."""
        if self._signing_bytes is None:
            self._signing_bytes = signing_bytes(self.to_dict())
        return self._signing_bytes

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
