"""The frames other agents sent that user code has not taken yet: a bounded, ordered inbox.

Frames wait here, in the order they arrived, until a reader takes them (``recv()``,
``async for``, or an :class:`~aiconexus.Agent` handler for their type). A reader may take
selectively (the first frame it accepts), so frames of a type nobody handles yet keep
waiting for the handler to be attached. The inbox holds at most ``limit`` frames: beyond
that :meth:`Inbox.put` refuses, and the client neither keeps nor acknowledges the frame
(the gateway keeps it and delivers it again later). After :meth:`close`, readers drain
what is left and then get None.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable

from aiconexus.protocol import Message

__all__ = ["DEFAULT_MAX_PENDING", "Inbox"]

DEFAULT_MAX_PENDING = 10_000
"""How many received frames a client keeps for its readers, by default."""


class Inbox:
    """Received frames awaiting a reader, at most ``limit`` of them."""

    def __init__(self, limit: int = DEFAULT_MAX_PENDING) -> None:
        if limit < 1:
            raise ValueError("max_pending must be >= 1")
        self.limit = limit
        self._frames: deque[tuple[float, Message]] = deque()
        self._keys: set[tuple[str, str]] = set()
        self._changed = asyncio.Event()
        self._closed = False

    def __len__(self) -> int:
        return len(self._frames)

    def holds(self, sender: str, message_id: str) -> bool:
        """True while the frame ``(sender, message_id)`` waits here."""
        return (sender, message_id) in self._keys

    def put(self, message: Message) -> bool:
        """Keep ``message`` for a reader; False (not kept) when the inbox is full."""
        if len(self._frames) >= self.limit:
            return False
        self._frames.append((time.monotonic(), message))
        self._keys.add((message.from_, message.id))
        self._changed.set()
        return True

    def arrived_before(self, moment: float) -> list[Message]:
        """The waiting frames put here before ``moment`` (``time.monotonic()``), oldest first."""
        found = []
        for arrived, message in self._frames:
            if arrived >= moment:
                break
            found.append(message)
        return found

    def wake(self) -> None:
        """Make waiting readers look again (what they accept changed)."""
        self._changed.set()

    def close(self) -> None:
        """No more frames will come: readers drain what is left, then get None."""
        self._closed = True
        self._changed.set()

    async def get(
        self,
        accept: Callable[[Message], bool] | None = None,
        *,
        keep_at_most: int | None = None,
        keep_for_s: float | None = None,
    ) -> Message | None:
        """The oldest frame ``accept`` takes (any frame when None); None once closed and drained.

        Frames ``accept`` refuses keep waiting, but no more than ``keep_at_most`` of them and
        none longer than ``keep_for_s`` seconds: past either bound the oldest of them is
        returned instead (the caller then deals with it as it can).
        """
        while True:
            message, wait = self._take(accept, keep_at_most, keep_for_s)
            if message is not None:
                return message
            if self._closed:
                return None
            self._changed.clear()
            if wait is None:
                await self._changed.wait()
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._changed.wait()

    def _take(
        self,
        accept: Callable[[Message], bool] | None,
        keep_at_most: int | None,
        keep_for_s: float | None,
    ) -> tuple[Message | None, float | None]:
        """The frame to return, or None and how long to wait at most before looking again."""
        refused = 0
        oldest: tuple[float, Message] | None = None
        chosen = None
        for item in self._frames:
            if accept is None or accept(item[1]):
                chosen = item
                break
            refused += 1
            oldest = oldest or item
        wait = None
        if chosen is None and oldest is not None:
            overdue = keep_for_s is not None and time.monotonic() - oldest[0] >= keep_for_s
            if overdue or (keep_at_most is not None and refused > keep_at_most):
                chosen = oldest
            elif keep_for_s is not None:
                wait = oldest[0] + keep_for_s - time.monotonic()
        if chosen is None:
            return None, wait
        if chosen is self._frames[0]:
            self._frames.popleft()
        else:
            self._frames.remove(chosen)
        message = chosen[1]
        self._keys.discard((message.from_, message.id))
        return message, None
