"""The bytes of frames from other agents that one node holds for its live sessions.

Every session's send queue (live frames) and in-flight window count against one
:class:`ByteBudget` (``SEND_BYTES_TOTAL``): a frame that does not fit is not queued, and its
recipient is then treated as a slow consumer (its frames go to the store, their senders get
``queued``). So many slow recipients together cannot hold more than the budget, on top of
the per-session bounds (``SEND_QUEUE_BYTES``, ``INFLIGHT_WINDOW_BYTES``).
"""

from __future__ import annotations

__all__ = ["ByteBudget"]


class ByteBudget:
    """A count of bytes held, with an upper bound (0: no bound, only counted).

    >>> budget = ByteBudget(10)
    >>> budget.take(6), budget.take(6), budget.used
    (True, False, 6)
    >>> budget.give(6); budget.used
    0
    """

    __slots__ = ("limit", "peak", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.peak = 0
        """The most bytes held at once since start (for metrics and tests)."""

    def take(self, size: int) -> bool:
        """Count ``size`` more bytes; False (nothing counted) when that exceeds the bound."""
        if self.limit and self.used + size > self.limit:
            return False
        self.add(size)
        return True

    def add(self, size: int) -> None:
        """Count ``size`` more bytes whatever the bound (frames already held elsewhere)."""
        self.used += size
        if self.used > self.peak:
            self.peak = self.used

    def give(self, size: int) -> None:
        """``size`` bytes are no longer held."""
        self.used -= size
