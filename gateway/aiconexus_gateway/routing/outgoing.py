"""A frame on its way out of the gateway, and what kind of frame it is.

Every frame a session writes is an :class:`Outgoing`: the gateway's own frames (REGISTERED,
ACK, ERROR, PONG), frames routed live from another agent, and frames taken from the offline
store. The kind decides the bounds it counts against (see :mod:`.session`) and whether it
goes back to the store when it is never delivered.
"""

from __future__ import annotations

from enum import Enum

__all__ = ["Kind", "Outgoing"]


class Kind(Enum):
    """Where a frame comes from."""

    CONTROL = "control"
    """The gateway's own frame: written ahead of agent frames, never stored."""
    LIVE = "live"
    """A frame from another agent, routed now: counts against the send queue's bounds."""
    STORED = "stored"
    """A frame taken from the offline store: bounded by the store, not by the send queue."""


class Outgoing:
    """A frame waiting to be written; agent frames go back to the store if never delivered."""

    __slots__ = ("frame", "held", "kind", "message_id", "received", "sender")

    def __init__(
        self,
        frame: str,
        kind: Kind,
        *,
        sender: str | None = None,
        message_id: str | None = None,
        received: float = 0.0,
        held: str | None = None,
    ) -> None:
        self.frame = frame
        self.kind = kind
        self.sender = sender
        """The DID that is told ``delivered`` / ``queued`` (None: nobody is told)."""
        self.message_id = message_id
        """The frame's id, known without parsing when it was routed live."""
        self.received = received
        """``time.perf_counter()`` when the frame was read, for the route latency (0: unknown)."""
        self.held = held
        """The store's token while the backend keeps this frame until it is acknowledged."""

    @property
    def agent(self) -> bool:
        """True for a frame from another agent (live or stored), False for the gateway's own."""
        return self.kind is not Kind.CONTROL

    @property
    def acknowledged_to(self) -> tuple[str, str] | None:
        """(sender, id) to acknowledge once the frame's outcome is known, if anyone waits."""
        if self.sender is None or self.message_id is None:
            return None
        return self.sender, self.message_id
