"""A bounded memory of recently seen (sender, id) pairs, for replay detection."""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["ReplayWindow"]


class ReplayWindow:
    """Remembers (sender, id) pairs for ``window_s`` seconds, at most ``max_entries`` of them.

    Time is passed in by the caller, so the window is pure and testable. When more than
    ``max_entries`` pairs are live, the oldest are forgotten first.
    """

    __slots__ = ("_max_entries", "_seen", "_window_s")

    def __init__(self, window_s: float, max_entries: int = 1_000_000) -> None:
        if window_s <= 0 or max_entries <= 0:
            raise ValueError("window_s and max_entries must be positive")
        self._window_s = window_s
        self._max_entries = max_entries
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()

    def check_and_add(self, sender: str, message_id: str, now: float) -> bool:
        """Record the pair; True if it is new, False if it was seen within the window."""
        self._expire(now)
        key = (sender, message_id)
        if key in self._seen:
            return False
        self._seen[key] = now + self._window_s
        if len(self._seen) > self._max_entries:
            self._seen.popitem(last=False)
        return True

    def discard(self, sender: str, message_id: str) -> None:
        """Forget the pair (it may be accepted again)."""
        self._seen.pop((sender, message_id), None)

    def _expire(self, now: float) -> None:
        seen = self._seen
        while seen:
            key, expiry = next(iter(seen.items()))
            if expiry > now:
                break
            del seen[key]

    def __len__(self) -> int:
        return len(self._seen)
