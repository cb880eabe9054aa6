"""Encodings of the Redis backend: agent records as JSON, node-channel messages."""

from __future__ import annotations

import base64
import hashlib
import json

import orjson

from aiconexus_gateway.backend.base import AgentRecord

__all__ = [
    "DELIVER",
    "REPLACED",
    "SEP",
    "STORED",
    "record_from_json",
    "record_json",
    "replay_key",
    "replay_marker",
    "split_owner",
]

SEP = "\x00"
"""Separates the fields of a node-channel message (a JSON text frame never holds a raw NUL)."""
DELIVER = "D"
"""``D<SEP>recipient<SEP>frame``: hand the frame to the local session of the recipient."""
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
