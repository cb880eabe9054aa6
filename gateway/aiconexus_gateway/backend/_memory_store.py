"""The offline store of the memory backend: per-recipient queues and one queue by age.

Every frame lives in its recipient's queue and in one queue of all frames in the order they
were stored. The age limit is the same for every frame, so that order is also the order in
which they expire: expiry pops from the front of the age queue, touching only expired frames
(amortised O(1) per stored frame), never every recipient. Frames taken by their recipient
stay in the age queue as dead entries (without their text) until they reach its front or the
queue is compacted, which happens once more than half of it is dead (amortised O(1) again).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from ._store_quota import SeenAgents, StoreAccounts, StoreLimits, frame_size
from .base import StoreFullError

__all__ = ["MemoryStore"]

_COMPACT_MIN = 1024
"""Dead entries tolerated in the age queue before it may be compacted."""


class _Entry:
    __slots__ = ("expires", "frame", "live", "recipient", "sender", "size", "unseen")

    def __init__(
        self, expires: float, frame: str, recipient: str, sender: str, size: int, unseen: bool
    ) -> None:
        self.expires = expires
        self.frame = frame
        self.recipient = recipient
        self.sender = sender
        self.size = size
        self.unseen = unseen
        self.live = True


class MemoryStore:
    """Bounded offline store in this process's memory (no I/O, nothing awaited)."""

    def __init__(self, limits: StoreLimits, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.accounts = StoreAccounts(limits)
        self.seen = SeenAgents(limits.seen_max)
        self._clock = clock
        self._queues: dict[str, deque[_Entry]] = {}
        self._by_age: deque[_Entry] = deque()
        self._dead = 0

    @property
    def count(self) -> int:
        """Frames held."""
        return self.accounts.frames

    def put(self, recipient: str, frame: str, sender: str) -> None:
        """Keep ``frame``; StoreFullError (or UnseenRecipientError) past a bound."""
        if self.limits.per_agent <= 0:
            raise StoreFullError("offline store is disabled")
        now = self._clock()
        self.expire(now)
        size = frame_size(frame)
        unseen = recipient not in self.seen
        refusal = self.accounts.refusal(recipient, sender, size, unseen)
        if refusal is not None:
            raise refusal
        entry = _Entry(now + self.limits.ttl, frame, recipient, sender, size, unseen)
        queue = self._queues.get(recipient)
        if queue is None:
            queue = self._queues[recipient] = deque()
        queue.append(entry)
        self._by_age.append(entry)
        self.accounts.add(recipient, sender, size, unseen)

    def take(self, recipient: str) -> list[str]:
        """Remove and return the unexpired frames of ``recipient``; remember it as seen."""
        self.seen.add(recipient)
        now = self._clock()
        self.expire(now)
        queue = self._queues.pop(recipient, None)
        if queue is None:
            return []
        frames = []
        for entry in queue:
            frames.append(entry.frame)
            self._kill(entry)
        self._compact()
        return frames

    def expire(self, now: float) -> int:
        """Drop every frame whose age limit has passed; returns how many."""
        by_age = self._by_age
        dropped = 0
        while by_age and by_age[0].expires <= now:
            entry = by_age.popleft()
            if not entry.live:
                self._dead -= 1
                continue
            queue = self._queues[entry.recipient]
            queue.popleft()  # the oldest frame of its recipient: stored first, expires first
            if not queue:
                del self._queues[entry.recipient]
            self.accounts.remove(entry.recipient, entry.sender, entry.size, entry.unseen)
            dropped += 1
        return dropped

    def _kill(self, entry: _Entry) -> None:
        entry.live = False
        entry.frame = ""
        self._dead += 1
        self.accounts.remove(entry.recipient, entry.sender, entry.size, entry.unseen)

    def _compact(self) -> None:
        if self._dead > _COMPACT_MIN and 2 * self._dead > len(self._by_age):
            self._by_age = deque(entry for entry in self._by_age if entry.live)
            self._dead = 0
