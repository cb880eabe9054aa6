"""Encodings of the Redis backend: agent records as JSON, node-channel messages."""

from __future__ import annotations

import base64
import hashlib
import json

import orjson

from aiconexus_gateway.backend.base import AgentRecord

__all__ = [
    "BATCH",
    "DELIVER",
    "REPLACED",
    "SEP",
    "STORED",
    "batch_message",
    "deliver_message",
    "record_from_json",
    "record_json",
    "replay_key",
    "replay_marker",
    "split_batch",
    "split_owner",
]

SEP = "\x00"
"""Separates the fields of a node-channel message (a JSON text frame never holds a raw NUL)."""
DELIVER = "D"
"""``D<SEP>recipient<SEP>frame``: hand the frame to the local session of the recipient."""
BATCH = "B"
"""``B<SEP>`` then per frame ``<len(recipient)>:<recipient><len(frame)>:<frame>`` (lengths
in characters): hand each frame to the local session of its recipient, in order."""
REPLACED = "R"
"""``R<SEP>did<SEP>session_id``: that local session was superseded on another node."""
STORED = "S"
"""``S<SEP>did``: frames were stored for the local session of ``did``; drain them."""


def record_json(record: AgentRecord) -> str:
    """The JSON text kept in Redis for ``record``."""
    return json.dumps(
        {
            "did": record.did,
            "capabilities": list(record.capabilities),
            "metadata": record.metadata,
            "connected_at": record.connected_at,
            "last_seen": record.last_seen,
            "node_id": record.node_id,
            "session_id": record.session_id,
            "extra": record.extra,
            "capability_info": record.capability_info,
        },
        separators=(",", ":"),
    )


def record_from_json(text: str) -> AgentRecord:
    """The record encoded by :func:`record_json`."""
    data = json.loads(text)
    return AgentRecord(
        did=data["did"],
        capabilities=tuple(data["capabilities"]),
        metadata=data["metadata"],
        connected_at=data["connected_at"],
        last_seen=data["last_seen"],
        node_id=data["node_id"],
        session_id=data["session_id"],
        extra=data.get("extra") or {},
        capability_info=data.get("capability_info") or {},
    )


def deliver_message(recipient: str, frame: str) -> str:
    """The node-channel message handing one ``frame`` to ``recipient``."""
    return f"{DELIVER}{SEP}{recipient}{SEP}{frame}"


def batch_message(entries: list[tuple[str, str]]) -> str:
    """The node-channel message handing several ``(recipient, frame)`` on, in order."""
    parts = [BATCH, SEP]
    for recipient, frame in entries:
        parts += (str(len(recipient)), ":", recipient, str(len(frame)), ":", frame)
    return "".join(parts)


def split_batch(body: str) -> list[tuple[str, str]]:
    """The ``(recipient, frame)`` pairs of a batch message's body (after ``B<SEP>``).

    Raises ValueError if the body is not a sequence of length-prefixed pairs.
    """
    entries: list[tuple[str, str]] = []
    fields: list[str] = []
    at, end = 0, len(body)
    while at < end:
        colon = body.find(":", at, at + 12)
        if colon < 0 or not body[at:colon].isdigit():
            raise ValueError(f"bad length at {at} of a batch message")
        start = colon + 1
        at = start + int(body[at:colon])
        if at > end:
            raise ValueError("a batch message ends inside a field")
        fields.append(body[start:at])
        if len(fields) == 2:
            entries.append((fields[0], fields[1]))
            fields = []
    if fields:
        raise ValueError("a batch message ends after a recipient")
    return entries


def split_owner(owner: str) -> tuple[str, str]:
    """``(node_id, session_id)`` of an owner entry (node and session joined by a newline)."""
    node, _, session = owner.partition("\n")
    return node, session


def replay_marker(sender: str, message_id: str) -> str:
    """Short key suffix of the replay marker of (sender, id): 16 bytes of BLAKE2b, base64url."""
    digest = hashlib.blake2b(
        f"{sender}\x00{message_id}".encode("utf-8", "surrogatepass"), digest_size=16
    ).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def replay_key(frame: str) -> str:
    """The replay marker suffix of an agent frame, or ``""`` if it has no from/id."""
    try:
        data = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return ""
    if not isinstance(data, dict):
        return ""
    sender, message_id = data.get("from"), data.get("id")
    if isinstance(sender, str) and isinstance(message_id, str):
        return replay_marker(sender, message_id)
    return ""
