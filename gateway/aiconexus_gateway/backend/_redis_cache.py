"""A node-local cache of owner look-ups, invalidated through the cluster's presence channel.

Every change of a DID's owner (claim, release, sweep) is published on one channel that all
nodes listen to; an entry also expires after a short time, and the whole cache is dropped
whenever the node's connection to Redis was lost (invalidations may have been missed).
A stale entry can only send a frame to the previous owner's node, which stores it and tells
the new owner to drain: frames are never lost through the cache.
"""

from __future__ import annotations

import time

from aiconexus_gateway.backend.base import AgentRecord

__all__ = ["OwnerCache"]


class OwnerCache:
    """DID -> live AgentRecord, for at most ``ttl_s`` seconds and ``max_entries`` entries."""

    def __init__(self, ttl_s: float, max_entries: int = 100_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.generation = 0
        """Bumped by every invalidation: a look-up that saw it change must not be cached."""
        self._entries: dict[str, tuple[float, AgentRecord]] = {}

    def get(self, did: str) -> AgentRecord | None:
        """The cached owner of ``did`` if fresh."""
        entry = self._entries.get(did)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            del self._entries[did]
            return None
        return entry[1]

    def put(self, record: AgentRecord, generation: int) -> None:
        """Cache ``record`` if no invalidation arrived since ``generation`` was read."""
        if generation != self.generation or self.ttl_s <= 0:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[record.did] = (time.monotonic() + self.ttl_s, record)

    def invalidate(self, did: str) -> None:
        """The owner of ``did`` changed."""
        self.generation += 1
        self._entries.pop(did, None)

    def clear(self) -> None:
        """Forget everything (after a lost connection)."""
        self.generation += 1
        self._entries.clear()
