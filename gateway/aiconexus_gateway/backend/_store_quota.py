"""Bounds of the offline store as running totals: every check and update is O(1).

The memory and SQLite backends keep these totals in the process (the Redis backend keeps the
same totals in Redis, see :mod:`._redis_scripts`). A frame is refused when it would take any
of these past its bound, checked in this order:

1. the recipient's frames / bytes (``STORE_MAX_PER_AGENT``, ``STORE_MAX_BYTES_PER_AGENT``);
2. the sender's frames / bytes (``STORE_MAX_PER_SENDER``, ``STORE_MAX_BYTES_PER_SENDER``), so
   a sender that fills the store is refused before everyone else is;
3. the bytes stored for recipients never seen registered (``STORE_MAX_BYTES_UNSEEN``,
   refused with UNKNOWN_AGENT);
4. the whole store's frames / bytes (``STORE_MAX_TOTAL``, ``STORE_MAX_BYTES_TOTAL``).

A bound of 0 is off (``STORE_MAX_PER_AGENT=0`` alone means "store nothing"; the backends
check that first). The bounds and their defaults are :class:`.settings_store.StoreLimits`.
"""

from __future__ import annotations

from collections import OrderedDict

import orjson

from ..settings_store import StoreLimits
from .base import StoreFullError, UnseenRecipientError

__all__ = ["SeenAgents", "StoreAccounts", "StoreLimits", "frame_sender", "frame_size"]


def frame_size(frame: str) -> int:
    """The size of ``frame`` in UTF-8 bytes (what the byte bounds count)."""
    if frame.isascii():
        return len(frame)
    return len(frame.encode("utf-8", "surrogatepass"))


def frame_sender(frame: str) -> str:
    """The ``from`` of an agent frame (whose quota it counts against), or ``""``."""
    try:
        data = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return ""
    sender = data.get("from") if isinstance(data, dict) else None
    return sender if isinstance(sender, str) else ""


def _over(bound: int, current: int, extra: int) -> bool:
    return bound > 0 and current + extra > bound


class StoreAccounts:
    """Frames and bytes held per recipient, per sender, for unseen recipients and in all."""

    __slots__ = ("_agents", "_senders", "bytes", "frames", "limits", "unseen_bytes")

    def __init__(self, limits: StoreLimits) -> None:
        self.limits = limits
        self.frames = 0
        self.bytes = 0
        self.unseen_bytes = 0
        self._agents: dict[str, list[int]] = {}
        self._senders: dict[str, list[int]] = {}

    def refusal(
        self, recipient: str, sender: str, size: int, unseen: bool
    ) -> StoreFullError | None:
        """The error refusing one more frame of ``size`` bytes, or None if it fits."""
        lim = self.limits
        agent = self._agents.get(recipient, (0, 0))
        if _over(lim.per_agent, agent[0], 1):
            return StoreFullError(f"{lim.per_agent} frames already stored for this agent")
        if _over(lim.bytes_per_agent, agent[1], size):
            return StoreFullError(f"the store holds {lim.bytes_per_agent} bytes for this agent")
        held = self._senders.get(sender, (0, 0))
        if _over(lim.per_sender, held[0], 1):
            return StoreFullError(f"{lim.per_sender} frames of this sender already stored")
        if _over(lim.bytes_per_sender, held[1], size):
            return StoreFullError(f"the store holds {lim.bytes_per_sender} bytes of this sender")
        if unseen and _over(lim.bytes_unseen, self.unseen_bytes, size):
            return UnseenRecipientError(
                "recipient is not connected and never registered here "
                f"(frames for such agents are limited to {lim.bytes_unseen} bytes in all)"
            )
        if _over(lim.total, self.frames, 1):
            return StoreFullError(f"the store is full ({lim.total} frames)")
        if _over(lim.bytes_total, self.bytes, size):
            return StoreFullError(f"the store is full ({lim.bytes_total} bytes)")
        return None

    def add(self, recipient: str, sender: str, size: int, unseen: bool) -> None:
        """Count one stored frame."""
        self.frames += 1
        self.bytes += size
        if unseen:
            self.unseen_bytes += size
        for table, key in ((self._agents, recipient), (self._senders, sender)):
            entry = table.get(key)
            if entry is None:
                table[key] = [1, size]
            else:
                entry[0] += 1
                entry[1] += size

    def remove(self, recipient: str, sender: str, size: int, unseen: bool) -> None:
        """Stop counting one stored frame (taken or expired)."""
        self.frames -= 1
        self.bytes -= size
        if unseen:
            self.unseen_bytes -= size
        for table, key in ((self._agents, recipient), (self._senders, sender)):
            entry = table.get(key)
            if entry is None:
                continue
            entry[0] -= 1
            entry[1] -= size
            if entry[0] <= 0:
                del table[key]

    def held_by(self, sender: str) -> tuple[int, int]:
        """(frames, bytes) stored from ``sender``."""
        entry = self._senders.get(sender)
        return (entry[0], entry[1]) if entry else (0, 0)


class SeenAgents:
    """The DIDs that registered here, most recent last, at most ``limit`` (0 = no limit)."""

    __slots__ = ("_dids", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._dids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, did: object) -> bool:
        return did in self._dids

    def __len__(self) -> int:
        return len(self._dids)

    def add(self, did: str) -> list[str]:
        """Remember ``did`` (as the most recent); returns the DIDs forgotten to make room."""
        dids = self._dids
        if did in dids:
            dids.move_to_end(did)
            return []
        dids[did] = None
        forgotten: list[str] = []
        while self.limit > 0 and len(dids) > self.limit:
            forgotten.append(dids.popitem(last=False)[0])
        return forgotten
