"""Where a connection is in its life, and the moves between those states."""

from __future__ import annotations

from enum import Enum

__all__ = ["NEXT_STATES", "SessionState"]


class SessionState(Enum):
    """Where a connection is in its life; only :meth:`Session.advance` moves it.

    CONNECTED -> CHALLENGE_SENT -> REGISTERED -> CLOSED, and from any state to CLOSED.
    """

    CONNECTED = "connected"
    """The WebSocket is accepted; nothing sent yet."""
    CHALLENGE_SENT = "challenge sent"
    """CHALLENGE is out; the REGISTER answering it is awaited and checked."""
    REGISTERED = "registered"
    """The live session of its DID: frames are routed to and from it."""
    CLOSED = "closed"
    """The hub let go of it (the connection may still be closing)."""


NEXT_STATES: dict[SessionState, frozenset[SessionState]] = {
    SessionState.CONNECTED: frozenset({SessionState.CHALLENGE_SENT, SessionState.CLOSED}),
    SessionState.CHALLENGE_SENT: frozenset({SessionState.REGISTERED, SessionState.CLOSED}),
    SessionState.REGISTERED: frozenset({SessionState.CLOSED}),
    SessionState.CLOSED: frozenset(),
}
"""The moves :meth:`Session.advance` allows."""
