"""Frames written to a recipient that acknowledges what it takes in, until it does.

A session whose REGISTER asked for ``recipient_acks`` gets an :class:`InFlight`. Its writer
moves every agent frame it writes here instead of reporting it delivered; the recipient's
signed ``ACK {"status": "received", "ids": [...]}`` takes frames out again (the hub then ACKs
``delivered`` to their senders). When the session ends, whatever is still here goes back to
the recipient's store ahead of the unsent queue, in the order it was written.

Bounds: at most ``window`` frames are in flight (0: no bound); the writer waits for room
(flow control, as MQTT's receive maximum or an AMQP prefetch count). A recipient that keeps
frames in flight without acknowledging any for ``ack_timeout`` seconds is a slow consumer:
``on_stalled`` is called once (the hub closes the session with 1013).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from aiconexus.protocol import ErrorCode, IoapError, error_from_code

from .session import Outgoing

__all__ = ["MAX_RECIPIENT_ACK_IDS", "InFlight", "frame_id", "recipient_ack_ids"]

MAX_RECIPIENT_ACK_IDS = 256
"""Most ids one recipient ACK may list."""


def frame_id(item: Outgoing) -> str:
    """The ``id`` of the frame ``item`` carries (parsed only for stored/cross-node frames)."""
    if item.ack_id is not None:
        return item.ack_id
    value = orjson.loads(item.frame).get("id")
    return value if isinstance(value, str) else ""


def recipient_ack_ids(payload: dict[str, Any]) -> list[str]:
    """The ids of a recipient ACK payload; UNAUTHORIZED / MALFORMED_MESSAGE otherwise.

    Agents may send ACK only as ``{"status": "received", "ids": [...]}`` (1 to 256 ids).
    """
    if payload.get("status") != "received":
        raise _error(ErrorCode.UNAUTHORIZED, 'agents send ACK only with status "received"')
    ids = payload.get("ids")
    if (
        not isinstance(ids, list)
        or not 0 < len(ids) <= MAX_RECIPIENT_ACK_IDS
        or not all(isinstance(i, str) and i for i in ids)
    ):
        raise _error(
            ErrorCode.MALFORMED_MESSAGE,
            f"ids must list 1 to {MAX_RECIPIENT_ACK_IDS} non-empty strings",
        )
    return ids


class InFlight:
    """The written, unacknowledged frames of one session, oldest first."""

    def __init__(self, window: int, ack_timeout: float, on_stalled: Callable[[], None]) -> None:
        self.window = window
        self.ack_timeout = ack_timeout
        self._on_stalled = on_stalled
        self._items: OrderedDict[int, Outgoing] = OrderedDict()
        self._by_id: dict[str, list[int]] = {}
        self._next = 0
        self._room = asyncio.Event()
        self._room.set()
        self._progress = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False

    def __len__(self) -> int:
        return len(self._items)

    @property
    def room(self) -> int:
        """How many more frames may be written now (a large number when unbounded)."""
        if self.window <= 0:
            return 1 << 30
        return max(0, self.window - len(self._items))

    async def wait_room(self) -> None:
        """Wait until at least one more frame may be written (or the session closed)."""
        while not self._closed and self.room == 0:
            self._room.clear()
            await self._room.wait()

    def add(self, item: Outgoing) -> None:
        """``item`` was written: hold it until the recipient acknowledges its id."""
        if self._closed:
            return
        key = self._next
        self._next += 1
        self._items[key] = item
        self._by_id.setdefault(frame_id(item), []).append(key)
        if self._timer is None:
            loop = asyncio.get_running_loop()
            self._progress = loop.time()
            self._timer = loop.call_later(self.ack_timeout, self._check)

    def acknowledge(self, ids: Iterable[str]) -> list[Outgoing]:
        """Take out the frames with these ids (oldest first per id); unknown ids are ignored."""
        done: list[Outgoing] = []
        for message_id in ids:
            keys = self._by_id.get(message_id)
            if not keys:
                continue
            item = self._items.pop(keys.pop(0))
            if not keys:
                del self._by_id[message_id]
            done.append(item)
        if done:
            self._progress = asyncio.get_running_loop().time()
            self._room.set()
        return done

    def take_all(self) -> list[Outgoing]:
        """Close: every frame still in flight, in the order written."""
        self._closed = True
        items = list(self._items.values())
        self._items.clear()
        self._by_id.clear()
        self._room.set()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        return items

    def _check(self) -> None:
        self._timer = None
        if self._closed or not self._items:
            return
        loop = asyncio.get_running_loop()
        waited = loop.time() - self._progress
        if waited >= self.ack_timeout:
            self._on_stalled()
            return
        self._timer = loop.call_later(self.ack_timeout - waited, self._check)


def _error(code: ErrorCode, message: str) -> IoapError:
    return error_from_code(code, message)
