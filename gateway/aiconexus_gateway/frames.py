"""Reading agent frames cheaply and writing the gateway's own signed frames.

The hot path parses a frame once with orjson and checks the envelope shape by hand (no model
validation); signing bytes come from the protocol core's :func:`canonicalize`, whose orjson
fast path covers nearly every envelope.
"""

from __future__ import annotations

import itertools
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

from aiconexus.protocol import (
    MAX_ID_LENGTH,
    PROTOCOL_VERSION,
    ErrorCode,
    Identity,
    MalformedMessageError,
    MessageType,
    UnsupportedVersionError,
    b64url_encode,
    canonicalize,
    loads_frame,
    parse_timestamp,
)

__all__ = ["Envelope", "GatewayFrames", "parse_envelope", "sent_at", "signing_bytes"]

_REQUIRED = ("version", "id", "type", "from", "to", "timestamp", "payload", "signature")
_REQUIRED_KEYS = frozenset(_REQUIRED)
_ALLOWED = frozenset((*_REQUIRED, "correlation_id"))
_TYPES = frozenset(MessageType)


class Envelope:
    """The routing view of one received frame: the parsed object plus checked fields."""

    __slots__ = ("data", "id", "recipient", "sender", "text", "type")

    def __init__(self, text: str, data: dict[str, Any]) -> None:
        self.text = text
        self.data = data
        self.id: str = data["id"]
        self.type: str = data["type"]
        self.sender: str = data["from"]
        self.recipient: str | None = data["to"]

    @property
    def timestamp(self) -> str:
        """The ``timestamp`` field as received."""
        return str(self.data["timestamp"])


def parse_envelope(text: str) -> Envelope:
    """Parse and shape-check a frame; MalformedMessageError / UnsupportedVersionError."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise MalformedMessageError("frame is not valid JSON") from None
    if type(data) is not dict:
        raise MalformedMessageError("frame must be a JSON object")
    version = data.get("version")
    if version != PROTOCOL_VERSION:
        if isinstance(version, str):
            raise UnsupportedVersionError(f"version {version[:16]!r} is not supported")
        raise MalformedMessageError("version must be the string '1.0'")
    if len(data) != len(_REQUIRED) or data.keys() != _REQUIRED_KEYS:
        _check_keys(data)
    message_id = data["id"]
    if type(message_id) is not str or not 0 < len(message_id) <= MAX_ID_LENGTH:
        raise MalformedMessageError(f"id must be a string of 1..{MAX_ID_LENGTH} characters")
    kind = data["type"]
    if type(kind) is not str or kind not in _TYPES:
        raise MalformedMessageError(f"unknown message type {str(kind)[:32]!r}")
    if type(data["from"]) is not str:
        raise MalformedMessageError("from must be a string")
    recipient = data["to"]
    if recipient is not None and type(recipient) is not str:
        raise MalformedMessageError("to must be a string or null")
    timestamp = data["timestamp"]
    if type(timestamp) is not str:
        raise MalformedMessageError("timestamp must be a string")
    if type(data["payload"]) is not dict:
        raise MalformedMessageError("payload must be an object")
    if type(data["signature"]) is not str:
        raise MalformedMessageError("signature must be a string")
    correlation = data.get("correlation_id")
    if correlation is not None and (
        type(correlation) is not str or not 0 < len(correlation) <= MAX_ID_LENGTH
    ):
        raise MalformedMessageError("correlation_id must be a string of 1..128 characters")
    if text.encode() != orjson.dumps(data):
        loads_frame(text)  # not byte-identical to the parsed object: may hide duplicate keys
    return Envelope(text, data)


def _check_keys(data: dict[str, Any]) -> None:
    unknown = data.keys() - _ALLOWED
    if unknown:
        raise MalformedMessageError(f"unknown envelope fields: {', '.join(sorted(unknown))}")
    missing = [key for key in _REQUIRED if key not in data]
    if missing:
        raise MalformedMessageError(f"missing envelope fields: {', '.join(missing)}")


def sent_at(envelope: Envelope) -> datetime:
    """The envelope's timestamp; MalformedMessageError if it is not RFC 3339 UTC with Z."""
    return parse_timestamp(envelope.timestamp)


def signing_bytes(data: dict[str, Any]) -> bytes:
    """RFC 8785 bytes of ``data`` without ``signature``; MalformedMessageError if not I-JSON."""
    unsigned = {key: value for key, value in data.items() if key != "signature"}
    try:
        return canonicalize(unsigned)
    except ValueError as exc:
        raise MalformedMessageError(f"envelope is not I-JSON: {exc}") from None


class GatewayFrames:
    """Builds the gateway's signed frames (CHALLENGE, REGISTERED, ACK, PONG, ERROR).

    Ids are a random per-process prefix plus a counter (unique without a UUID per frame);
    timestamps are cached per second and completed with milliseconds.
    """

    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.did = identity.did
        self._sign = identity.sign
        self._prefix = uuid.uuid4().hex[:16] + "-"
        self._counter = itertools.count(1)
        self._second = -1
        self._second_text = ""

    def _next_id(self) -> str:
        return f"{self._prefix}{next(self._counter)}"

    def _now(self) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:
            moment = datetime.fromtimestamp(second, UTC)
            self._second_text = moment.strftime("%Y-%m-%dT%H:%M:%S.")
            self._second = second
        return f"{self._second_text}{int((now - second) * 1000):03d}Z"

    def build(
        self,
        kind: MessageType,
        to: str | None,
        payload: dict[str, Any],
        correlation_id: str | None = None,
    ) -> str:
        """A signed frame's text (canonical JSON, so it is also its own signing input + sig)."""
        envelope: dict[str, Any] = {
            "version": PROTOCOL_VERSION,
            "id": self._next_id(),
            "type": kind.value,
            "from": self.did,
            "to": to,
            "timestamp": self._now(),
            "payload": payload,
        }
        if correlation_id is not None:
            envelope["correlation_id"] = correlation_id
        signing = canonicalize(envelope)
        envelope["signature"] = b64url_encode(self._sign(signing))
        return canonicalize(envelope).decode()

    def challenge(self, nonce: str) -> str:
        """CHALLENGE (``to`` null) carrying ``nonce``."""
        return self.build(MessageType.CHALLENGE, None, {"nonce": nonce})

    def registered(
        self, to: str, correlation_id: str, session_id: str, heartbeat_s: float, queued: int
    ) -> str:
        """REGISTERED answering the REGISTER ``correlation_id``."""
        payload = {"session_id": session_id, "heartbeat_interval_s": heartbeat_s, "queued": queued}
        return self.build(MessageType.REGISTERED, to, payload, correlation_id)

    def ack(self, to: str, ids: list[str], status: str) -> str:
        """ACK of accepted frames ``ids`` (status ``delivered`` or ``queued``)."""
        envelope = self.unsigned_ack(to, ids, status)
        return self.signed(envelope, self._sign(canonicalize(envelope)))

    def unsigned_ack(self, to: str, ids: list[str], status: str) -> dict[str, Any]:
        """The envelope of an ACK before signing.

        ``correlation_id`` is the acknowledged id when there is exactly one, absent otherwise.
        """
        envelope = {
            "version": PROTOCOL_VERSION,
            "id": self._next_id(),
            "type": "ACK",
            "from": self.did,
            "to": to,
            "timestamp": self._now(),
            "payload": {"status": status, "ids": ids},
        }
        if len(ids) == 1:
            envelope["correlation_id"] = ids[0]
        return envelope

    @staticmethod
    def ack_signing_bytes(envelope: dict[str, Any]) -> bytes:
        """What an envelope from :meth:`unsigned_ack` is signed over."""
        return canonicalize(envelope)

    @staticmethod
    def signed(envelope: dict[str, Any], signature: bytes) -> str:
        """The frame text of ``envelope`` with its ``signature``."""
        envelope["signature"] = b64url_encode(signature)
        return canonicalize(envelope).decode()

    def pong(self, to: str, correlation_id: str, sequence: Any) -> str:
        """PONG answering a PING, echoing its ``sequence``."""
        payload = {} if sequence is None else {"sequence": sequence}
        return self.build(MessageType.PONG, to, payload, correlation_id)

    def error(
        self,
        to: str | None,
        code: ErrorCode | str,
        message: str,
        correlation_id: str | None = None,
        details: Any = None,
    ) -> str:
        """ERROR with ``code``; ``correlation_id`` is the rejected frame's id when known."""
        payload: dict[str, Any] = {"code": str(code), "message": message}
        if details is not None:
            payload["details"] = details
        return self.build(MessageType.ERROR, to, payload, correlation_id)
