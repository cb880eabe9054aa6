"""Small asyncio primitives for per-connection state: an event and a queue that cost little idle.

Every connection holds a few events and queues for its whole life. asyncio's own allocate a
``collections.deque`` each up front (about 700 bytes with its first block, measured with
tracemalloc), and an ``asyncio.Queue`` holds four of them: most of those bytes sit unused on
an idle connection. These keep their waiters in a list created only when someone waits, and
use ``__slots__``. Same behaviour as asyncio's for what the gateway uses (``set``, ``clear``,
``is_set``, ``wait``; ``put_nowait``, ``get``, ``empty``, ``qsize``); the queue is unbounded.
"""

from __future__ import annotations

import asyncio
from typing import Generic, TypeVar

__all__ = ["LeanEvent", "LeanQueue"]

T = TypeVar("T")


class LeanEvent:
    """``asyncio.Event`` without the up-front deque."""

    __slots__ = ("_flag", "_waiters")

    def __init__(self) -> None:
        self._flag = False
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        """True while the flag is set."""
        return self._flag

    def set(self) -> None:
        """Set the flag and wake every waiter."""
        if self._flag:
            return
        self._flag = True
        waiters, self._waiters = self._waiters, None
        if waiters:
            for future in waiters:
                if not future.done():
                    future.set_result(None)

    def clear(self) -> None:
        """Reset the flag."""
        self._flag = False

    async def wait(self) -> bool:
        """Wait until the flag is set (at once if it is); returns True."""
        if self._flag:
            return True
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = [future]
        else:
            self._waiters.append(future)
        try:
            await future
        finally:
            waiters = self._waiters
            if waiters is not None and future in waiters:
                waiters.remove(future)
        return True


class LeanQueue(Generic[T]):
    """An unbounded ``asyncio.Queue`` without the up-front deques."""

    __slots__ = ("_getters", "_items")

    def __init__(self) -> None:
        self._items: list[T] = []
        self._getters: list[asyncio.Future[None]] | None = None

    def qsize(self) -> int:
        """Items waiting."""
        return len(self._items)

    def empty(self) -> bool:
        """True when no item waits."""
        return not self._items

    def put_nowait(self, item: T) -> None:
        """Append ``item`` and wake the first getter."""
        self._items.append(item)
        if self._getters:
            self._wake_next()

    async def get(self) -> T:
        """The oldest item, waiting for one if there is none."""
        while not self._items:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            if self._getters is None:
                self._getters = [future]
            else:
                self._getters.append(future)
            try:
                await future
            except asyncio.CancelledError:
                if future.done() and not future.cancelled() and self._items:
                    self._wake_next()  # we were woken for an item we will not take
                raise
            finally:
                getters = self._getters
                if getters is not None and future in getters:
                    getters.remove(future)
        return self._items.pop(0)

    def _wake_next(self) -> None:
        getters = self._getters
        while getters:
            future = getters.pop(0)
            if not future.done():
                future.set_result(None)
                return
