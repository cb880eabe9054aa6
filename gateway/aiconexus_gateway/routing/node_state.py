"""The node's life as its connections see it: open connections, start time, draining."""

from __future__ import annotations

import time

__all__ = ["NodeState"]


class NodeState:
    """Open connections (bounded by MAX_CONNECTIONS), when the node started, whether it drains.

    Connections count themselves in and out (:meth:`opened`, :meth:`left`); the hub says
    when the node begins to drain (:meth:`stop`).
    """

    __slots__ = ("_connections", "_stopping", "max_connections", "started_at")

    def __init__(self, max_connections: int, *, started_at: float | None = None) -> None:
        self.max_connections = max_connections
        self.started_at = time.time() if started_at is None else started_at
        self._connections = 0
        self._stopping = False

    @property
    def connections(self) -> int:
        """Connections open now (refused ones are never counted)."""
        return self._connections

    @property
    def stopping(self) -> bool:
        """True once shutdown began: new connections and new frames are refused."""
        return self._stopping

    def refusal(self) -> str | None:
        """Why a new connection is refused now (draining, at MAX_CONNECTIONS), or None."""
        if self._stopping:
            return "gateway is stopping"
        if self._connections >= self.max_connections:
            return "gateway is at MAX_CONNECTIONS"
        return None

    def opened(self) -> None:
        """A connection was let in."""
        self._connections += 1

    def left(self) -> None:
        """A connection that was let in has ended."""
        self._connections -= 1

    def stop(self) -> None:
        """Shutdown begins (the drain, see :mod:`.drain`)."""
        self._stopping = True
