"""The in-memory backend: presence, replay window and offline store of one gateway process."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import ClassVar

from ..settings_store import STORE_DEFAULTS, StoreLimits
from ._did_index import DidIndex
from ._memory_store import MemoryStore
from .base import AgentRecord, Backend, NodeHooks

__all__ = ["MemoryBackend", "remember_once"]

DEFAULT_REPLAY_ENTRIES = 1_000_000
"""Most (sender, id) pairs remembered at once; beyond it the oldest are forgotten first."""


def remember_once(
    markers: dict[int, float], key: int, now: float, window_s: float, most: int
) -> bool:
    """True if ``key`` is new in ``markers``, then kept there until ``now + window_s``.

    ``markers`` maps keys to expiry times in insertion order: first the expired ones at its
    head are dropped, and the oldest ones while it holds ``most`` or more.
    """
    while markers:
        oldest = next(iter(markers))
        if markers[oldest] > now and len(markers) < most:
            break
        del markers[oldest]
    if key in markers:
        return False
    markers[key] = now + window_s
    return True


class MemoryBackend(Backend):
    """Everything in this process's memory; suitable for a single gateway process.

    Replay memory keeps a 64-bit hash of each (sender, id) pair (about 100 bytes an entry)
    so that a busy gateway's window stays small.
    """

    name: ClassVar[str] = "memory"

    def __init__(
        self,
        *,
        store_max_per_agent: int = STORE_DEFAULTS.per_agent,
        store_max_total: int = STORE_DEFAULTS.total,
        store_ttl: float = STORE_DEFAULTS.ttl,
        replay_max_entries: int = DEFAULT_REPLAY_ENTRIES,
        store_limits: StoreLimits | None = None,
    ) -> None:
        if store_limits is None:
            store_limits = StoreLimits(
                per_agent=store_max_per_agent, total=store_max_total, ttl=store_ttl
            )
        self._replay_max = replay_max_entries
        self._hooks: NodeHooks | None = None
        self._agents: dict[str, AgentRecord] = {}
        self._index = DidIndex()
        self._seen: dict[int, float] = {}
        self._store = MemoryStore(store_limits)

    async def start(self, hooks: NodeHooks) -> None:
        """Remember ``hooks`` (to tell a replaced session to close)."""
        self._hooks = hooks

    async def close(self) -> None:
        """Forget every agent (stored frames are lost with the process)."""
        self._agents.clear()
        self._index.clear()

    async def healthy(self) -> bool:
        """Always True: memory is always reachable."""
        return True

    # presence -------------------------------------------------------------------------------
    async def claim(self, record: AgentRecord) -> None:
        """Make ``record`` the live session of its DID; tell an older one to close."""
        previous = self._agents.get(record.did)
        self._agents[record.did] = record
        if previous is not None:
            self._index.remove(previous.did, previous.capabilities)
        self._index.add(record.did, record.capabilities)
        if previous is not None and previous.session_id != record.session_id and self._hooks:
            self._hooks.replaced(previous.did, previous.session_id)

    async def release(self, did: str, session_id: str) -> None:
        """Remove ``did`` if ``session_id`` still owns it."""
        current = self._agents.get(did)
        if current is not None and current.session_id == session_id:
            del self._agents[did]
            self._index.remove(did, current.capabilities)

    async def refresh(self, records: Sequence[AgentRecord]) -> None:
        """Take the new ``last_seen`` of live sessions and drop expired stored frames."""
        for record in records:
            current = self._agents.get(record.did)
            if current is not None and current.session_id == record.session_id:
                self._agents[record.did] = record
                if current.capabilities != record.capabilities:
                    self._index.remove(current.did, current.capabilities)
                    self._index.add(record.did, record.capabilities)
        self._store.expire(time.monotonic())

    async def owner(self, did: str) -> AgentRecord | None:
        """The live session of ``did`` or None."""
        return self._agents.get(did)

    async def list_agents(
        self, capability: str | None = None, *, after: str | None = None, limit: int | None = None
    ) -> list[AgentRecord]:
        """Live agents by DID (after ``after``, at most ``limit``), optionally by capability."""
        agents = self._agents
        return [agents[did] for did in self._index.page(capability, after=after, limit=limit)]

    # replay detection ----------------------------------------------------------------------
    async def first_seen(self, sender: str, message_id: str, window_s: float) -> bool:
        """True if (sender, id) is new within ``window_s``; records it either way."""
        key = hash((sender, message_id))
        return remember_once(self._seen, key, time.monotonic(), window_s, self._replay_max)

    async def forget(self, sender: str, message_id: str) -> None:
        """Drop the record of (sender, id) (its frame was refused)."""
        self._seen.pop(hash((sender, message_id)), None)

    # cross-node delivery -------------------------------------------------------------------
    async def send_to_node(self, node_id: str, recipient: str, frame: str) -> bool:
        """There is no other node: always False."""
        return False

    # offline store -------------------------------------------------------------------------
    async def store(
        self, recipient: str, frame: str, sender: str, message_id: str | None = None
    ) -> None:
        """Keep ``frame`` for ``recipient``; StoreFullError past a bound (see _store_quota)."""
        self._store.put(recipient, frame, sender)

    async def take_stored(self, recipient: str) -> list[str]:
        """Remove and return the unexpired frames for ``recipient``, oldest first."""
        return self._store.take(recipient)

    async def stored_count(self) -> int:
        """How many frames are stored in all."""
        return self._store.count

    async def stored_bytes(self) -> int:
        """UTF-8 bytes of frame text stored in all (a running total)."""
        return self._store.accounts.bytes
