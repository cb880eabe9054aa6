"""Reading a received frame cheaply: strict JSON, the envelope's shape, and its signing bytes.

This is the one envelope reader of the project: :meth:`Message.parse` builds on it, and the
gateway's hot path uses it directly (no model validation per frame). A frame is parsed once
with orjson; the strict parser (which refuses duplicate keys) runs only when the frame is not
byte-identical to the parsed object's compact serialization, i.e. when it could hide them.

Signing bytes without a second serialization: senders write frames as canonical JSON (the
SDK's ``Message.to_json``), so a frame is first compared with orjson's sorted-key output of
the parsed object. When they are equal, the RFC 8785 bytes the sender signed are that output
with the top-level ``"signature"`` member cut out, provided the payload holds only values
whose orjson form is their RFC 8785 form (the envelope's other fields are strings or null,
checked by :func:`check_envelope`). Anything else takes :func:`signing_bytes`.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from .constants import MAX_ID_LENGTH, PROTOCOL_VERSION, MessageType
from .errors import MalformedMessageError, UnsupportedVersionError
from .jcs import canonicalize, orjson_is_jcs

__all__ = [
    "MAX_JSON_CONTAINERS",
    "MAX_JSON_DEPTH",
    "Envelope",
    "check_envelope",
    "check_nesting",
    "loads_bounded",
    "loads_frame",
    "parse_envelope",
    "signed_frame",
    "signing_bytes",
]

MAX_JSON_DEPTH = 32
"""Deepest nesting of objects and arrays a frame may have (the envelope itself is level 1)."""

MAX_JSON_CONTAINERS = 16384
"""Most objects and arrays one frame may hold."""

_REQUIRED = ("version", "id", "type", "from", "to", "timestamp", "payload", "signature")
_REQUIRED_KEYS = frozenset(_REQUIRED)
_ALLOWED = frozenset((*_REQUIRED, "correlation_id"))
_ANSWER_KEYS = _ALLOWED  # an answer's envelope: every field, correlation_id included
_TYPES = frozenset(MessageType)
_SIGNATURE_MEMBER = b',"signature":'
_TIMESTAMP_MEMBER = b',"timestamp":'


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise MalformedMessageError("duplicate keys in a JSON object")
    return result


def _no_constant(name: str) -> Any:
    raise MalformedMessageError(f"{name} is not a JSON number")


def loads_frame(frame: str | bytes) -> dict[str, Any]:
    """Parse a frame's JSON object strictly (no duplicate keys, no NaN); MalformedMessageError."""
    try:
        text = frame.decode("utf-8") if isinstance(frame, bytes | bytearray) else frame
        value = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise MalformedMessageError(f"frame is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise MalformedMessageError("frame must be a JSON object")
    return value


class Envelope:
    """The routing view of one received frame: its text, the parsed object, checked fields."""

    __slots__ = ("_sorted", "data", "id", "recipient", "sender", "text", "type")

    def __init__(self, text: str, data: dict[str, Any], sorted_json: bytes | None = None) -> None:
        self.text = text
        self.data = data
        self.id: str = data["id"]
        self.type: str = data["type"]
        self.sender: str = data["from"]
        self.recipient: str | None = data["to"]
        self._sorted = sorted_json  # the frame's bytes when they are orjson's sorted output

    def signing_bytes(self) -> bytes:
        """RFC 8785 bytes of the envelope without ``signature`` (MalformedMessageError: not I-JSON).

        Cut out of the frame itself when it is canonical (see the module), else serialized.
        """
        framed = self._sorted
        if framed is not None and orjson_is_jcs(self.data["payload"]):
            # The last ',"signature":' is the top-level member: only string or null members
            # (timestamp, to, type, version) follow it, and inside strings '"' is escaped.
            start = framed.rfind(_SIGNATURE_MEMBER)
            value = orjson.dumps(self.data["signature"])
            middle = start + len(_SIGNATURE_MEMBER)
            end = middle + len(value)
            if start > 0 and framed[middle:end] == value:
                return framed[:start] + framed[end:]
        return signing_bytes(self.data)

    @property
    def timestamp(self) -> str:
        """The ``timestamp`` field as received."""
        return str(self.data["timestamp"])


def parse_envelope(text: str) -> Envelope:
    """Parse and shape-check a frame; MalformedMessageError / UnsupportedVersionError."""
    try:
        data = loads_bounded(text)
    except orjson.JSONDecodeError:
        raise MalformedMessageError("frame is not valid JSON") from None
    if type(data) is not dict:
        raise MalformedMessageError("frame must be a JSON object")
    check_envelope(data)
    raw = text.encode()
    sorted_json = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    if raw == sorted_json:
        return Envelope(text, data, sorted_json)
    if raw != orjson.dumps(data):
        loads_frame(text)  # not byte-identical to the parsed object: may hide duplicate keys
    return Envelope(text, data)


def loads_bounded(text: str) -> Any:
    """``orjson.loads`` within MAX_JSON_DEPTH and MAX_JSON_CONTAINERS; MalformedMessageError.

    Nearly free for ordinary frames: the brackets of ``text`` are counted at C speed first
    (an upper bound on both the depth and the number of containers, since brackets inside
    strings count too); only a frame with more than ``MAX_JSON_DEPTH`` of them is walked
    after parsing, and its containers are counted only when the brackets exceed
    ``MAX_JSON_CONTAINERS``. ``orjson.JSONDecodeError`` passes through.
    """
    brackets = text.count("{") + text.count("[")
    data = orjson.loads(text)
    if brackets > MAX_JSON_DEPTH:
        check_nesting(
            data, max_containers=MAX_JSON_CONTAINERS if brackets > MAX_JSON_CONTAINERS else 0
        )
    return data


def check_nesting(
    value: Any, *, max_depth: int = MAX_JSON_DEPTH, level: int = 1, max_containers: int = 0
) -> None:
    """MalformedMessageError if ``value`` nests objects/arrays deeper than ``max_depth``.

    ``level`` is the depth of ``value`` itself (1 for a frame's top-level object); with
    ``max_containers``, also if it holds more objects and arrays than that.
    """
    layer: list[Any] = [value]
    depth = level
    containers = 1
    while layer:  # one level at a time: no per-container bookkeeping objects
        if depth > max_depth:
            raise MalformedMessageError(f"JSON nests deeper than {max_depth} levels")
        below: list[Any] = []
        add = below.append
        for current in layer:
            for child in current.values() if type(current) is dict else current:
                kind = type(child)
                if kind is dict or kind is list:
                    add(child)
            if max_containers and containers + len(below) > max_containers:
                raise MalformedMessageError(f"JSON holds more than {max_containers} objects/arrays")
        containers += len(below)
        layer = below
        depth += 1


def check_envelope(data: dict[str, Any]) -> None:
    """Check the envelope fields' presence and types (not the payload, not the signature)."""
    version = data.get("version")
    if version != PROTOCOL_VERSION:
        if isinstance(version, str):
            raise UnsupportedVersionError(
                f"version {version[:16]!r} is not supported; this side speaks {PROTOCOL_VERSION!r}"
            )
        raise MalformedMessageError("version must be the string '1.0'")
    keys = data.keys()
    if keys != _REQUIRED_KEYS and keys != _ANSWER_KEYS:
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
    if type(data["timestamp"]) is not str:
        raise MalformedMessageError("timestamp must be a string")
    if type(data["payload"]) is not dict:
        raise MalformedMessageError("payload must be an object")
    if type(data["signature"]) is not str:
        raise MalformedMessageError("signature must be a string")
    correlation = data.get("correlation_id")
    if correlation is not None and (
        type(correlation) is not str or not 0 < len(correlation) <= MAX_ID_LENGTH
    ):
        raise MalformedMessageError(
            f"correlation_id must be a string of 1..{MAX_ID_LENGTH} characters"
        )


def _check_keys(data: dict[str, Any]) -> None:
    unknown = data.keys() - _ALLOWED
    if unknown:
        raise MalformedMessageError(f"unknown envelope fields: {', '.join(sorted(unknown))}")
    missing = [key for key in _REQUIRED if key not in data]
    if missing:
        raise MalformedMessageError(f"missing envelope fields: {', '.join(missing)}")


def signing_bytes(data: dict[str, Any]) -> bytes:
    """RFC 8785 bytes of ``data`` without ``signature``; MalformedMessageError if not I-JSON."""
    unsigned = {key: value for key, value in data.items() if key != "signature"}
    try:
        return canonicalize(unsigned)
    except ValueError as exc:
        raise MalformedMessageError(f"envelope is not I-JSON: {exc}") from None


def signed_frame(signing: bytes, signature: str) -> str:
    """The canonical frame text: the canonical unsigned bytes with ``signature`` put in.

    ``signing`` is what :func:`signing_bytes` returns, ``signature`` base64url text. In RFC
    8785 order the top-level ``"signature"`` member comes right before ``"timestamp"``, whose
    member is the last ``,"timestamp":`` of the bytes: only string or null members (``to``,
    ``type``, ``version``) follow it, and inside strings every ``"`` is escaped.
    """
    at = signing.rfind(_TIMESTAMP_MEMBER)
    if at <= 0 or not signature.isascii() or '"' in signature or "\\" in signature:
        raise ValueError("not the canonical bytes of an envelope, or not a base64url signature")
    member = b',"signature":"' + signature.encode("ascii") + b'"'
    return (signing[:at] + member + signing[at:]).decode("utf-8")
