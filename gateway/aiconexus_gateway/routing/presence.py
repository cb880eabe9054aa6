"""The presence records of this node's registered sessions, as the backend keeps them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from aiconexus.protocol import format_timestamp
from aiconexus_gateway.backend.base import AgentRecord

from .session import Session, SessionState

__all__ = ["format_timestamp_from", "presence_record", "presence_records"]


def presence_record(session: Session, node_id: str, *, last_seen: str | None = None) -> AgentRecord:
    """The presence record of a registered ``session`` of the node ``node_id``."""
    assert session.did is not None
    connected = format_timestamp_from(session.connected_at)
    return AgentRecord(
        did=session.did,
        capabilities=session.capabilities,
        metadata=session.metadata,
        capability_info=session.capability_info,
        connected_at=connected,
        last_seen=last_seen or connected,
        node_id=node_id,
        session_id=session.session_id,
        extra={"recipient_acks": True} if session.recipient_acks else {},
    )


def presence_records(sessions: Iterable[Session], node_id: str) -> list[AgentRecord]:
    """Presence records of the registered ``sessions``, ``last_seen`` = now."""
    now = format_timestamp()
    return [
        presence_record(session, node_id, last_seen=now)
        for session in sessions
        if session.state is SessionState.REGISTERED
    ]


def format_timestamp_from(epoch: float) -> str:
    """An envelope-style timestamp of a ``time.time()`` value."""
    return format_timestamp(datetime.fromtimestamp(epoch, UTC))
