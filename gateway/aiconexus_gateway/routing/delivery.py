"""When a frame counts as delivered: one decision per session, returned as a verdict.

A session's :class:`Delivery` decides; its writer and the router only report what happened
and hand the returned :class:`Delivered` to the hub, which acts on it (counts the frames, ACKs
``delivered`` to their senders, settles held store frames). Nothing else decides "delivered".

- Without recipient acknowledgements a frame is delivered once written
  (:meth:`Delivery.written`).
- With them (the REGISTER asked for ``recipient_acks``), every agent frame the writer is about
  to write moves to the session's :class:`InFlight` window first (:meth:`Delivery.sending`);
  the recipient's signed ``ACK {"status": "received", "ids": [...]}``
  (:func:`recipient_ack_ids`) takes frames out again (:meth:`Delivery.acknowledged`). When the
  session ends, whatever is still in flight goes back to the recipient's store ahead of the
  unsent queue, in the order it was written.

Window bounds: at most ``window`` frames and ``window_bytes`` bytes are in flight (0: no
bound; one frame is always allowed); the writer waits for room (flow control, as MQTT's
receive maximum or an AMQP prefetch count) and ``on_room`` tells it when some was freed. The
bytes in flight also count against the node's :class:`~.budget.ByteBudget`. A recipient whose
oldest unacknowledged frame was written ``ack_timeout`` seconds ago or more is a slow
consumer, however many later frames it acknowledges meanwhile: ``on_stalled`` is called once
(the session's owner closes it with 1013), so a slow recipient holds its frames for a bounded
time.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from aiconexus.protocol import ErrorCode, IoapError, error_from_code

from .budget import ByteBudget
from .outgoing import Kind, Outgoing

__all__ = [
    "MAX_RECIPIENT_ACK_IDS",
    "NOTHING_DELIVERED",
    "WITHOUT_ACKS",
    "Delivered",
    "Delivery",
    "InFlight",
    "frame_id",
    "recipient_ack_ids",
]

MAX_RECIPIENT_ACK_IDS = 256
"""Most ids one recipient ACK may list."""


def frame_id(item: Outgoing) -> str:
    """The ``id`` of the frame ``item`` carries (parsed only for stored/cross-node frames)."""
    if item.message_id is not None:
        return item.message_id
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

    def __init__(
        self,
        window: int,
        ack_timeout: float,
        on_stalled: Callable[[], None],
        *,
        window_bytes: int = 0,
        budget: ByteBudget | None = None,
        on_room: Callable[[], None] | None = None,
    ) -> None:
        self.window = window
        self.window_bytes = window_bytes
        self.ack_timeout = ack_timeout
        self._on_stalled = on_stalled
        self._on_room = on_room
        self._budget = budget if budget is not None else ByteBudget(0)
        self._items: OrderedDict[int, tuple[Outgoing, float]] = OrderedDict()
        self._by_id: dict[str, list[int]] = {}
        self._next = 0
        self._bytes = 0
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False

    def __len__(self) -> int:
        return len(self._items)

    @property
    def bytes(self) -> int:
        """Bytes of the frames in flight."""
        return self._bytes

    @property
    def room(self) -> int:
        """How many more frames may be written now (a large number when unbounded)."""
        if self.window <= 0:
            return 1 << 30
        return max(0, self.window - len(self._items))

    @property
    def room_bytes(self) -> int:
        """How many more bytes may be written now (a large number when unbounded)."""
        if self.window_bytes <= 0:
            return 1 << 62
        return max(0, self.window_bytes - self._bytes)

    def add(self, item: Outgoing) -> None:
        """``item`` was written: hold it until the recipient acknowledges its id."""
        if self._closed:
            return
        key = self._next
        self._next += 1
        loop = asyncio.get_running_loop()
        self._items[key] = (item, loop.time())
        self._by_id.setdefault(frame_id(item), []).append(key)
        size = len(item.frame)
        self._bytes += size
        self._budget.add(size)
        if self._timer is None:
            self._timer = loop.call_later(self.ack_timeout, self._check)

    def acknowledge(self, ids: Iterable[str]) -> list[Outgoing]:
        """Take out the frames with these ids (oldest first per id); unknown ids are ignored."""
        done: list[Outgoing] = []
        for message_id in ids:
            keys = self._by_id.get(message_id)
            if not keys:
                continue
            item, _ = self._items.pop(keys.pop(0))
            if not keys:
                del self._by_id[message_id]
            done.append(item)
        if done:
            size = sum(len(item.frame) for item in done)
            self._bytes -= size
            self._budget.give(size)
            if self._on_room is not None:
                self._on_room()
        return done

    def take_all(self) -> list[Outgoing]:
        """Close: every frame still in flight, in the order written."""
        self._closed = True
        items = [item for item, _ in self._items.values()]
        self._items.clear()
        self._by_id.clear()
        self._budget.give(self._bytes)
        self._bytes = 0
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        return items

    def held_tokens(self) -> set[str]:
        """The store tokens of the frames in flight that the backend holds."""
        return {item.held for item, _ in self._items.values() if item.held is not None}

    def oldest_age(self) -> float:
        """Seconds since the oldest frame in flight was written (0 when none is)."""
        if not self._items:
            return 0.0
        _, written = next(iter(self._items.values()))
        return asyncio.get_running_loop().time() - written

    def _check(self) -> None:
        self._timer = None
        if self._closed or not self._items:
            return
        waited = self.oldest_age()
        if waited >= self.ack_timeout:
            self._on_stalled()
            return
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self.ack_timeout - waited, self._check)


@dataclass(frozen=True, slots=True)
class Delivered:
    """What to do now that frames reached their recipient (the verdict of :class:`Delivery`).

    Count each of ``items`` as delivered, ACK ``delivered`` to its sender (when one waits),
    and settle the store frames it held (:attr:`held`).
    """

    items: tuple[Outgoing, ...]

    @property
    def held(self) -> list[str]:
        """Store tokens of the delivered frames the backend still holds."""
        return [item.held for item in self.items if item.held is not None]


NOTHING_DELIVERED = Delivered(())
"""The verdict when nothing was delivered."""


class Delivery:
    """One session's delivery decisions: written means delivered, or its ACK does."""

    __slots__ = ("window",)

    def __init__(self, window: InFlight | None = None) -> None:
        self.window = window
        """The in-flight window of a session with recipient acknowledgements, else None."""

    @property
    def acknowledging(self) -> bool:
        """True when the recipient acknowledges what it takes in (``recipient_acks``)."""
        return self.window is not None

    @property
    def in_flight(self) -> int:
        """Frames written and not yet acknowledged (always 0 without acknowledgements)."""
        return 0 if self.window is None else len(self.window)

    def fitting(self, candidates: Iterable[Outgoing]) -> list[Outgoing]:
        """The leading ``candidates`` the in-flight window has room for (all without one)."""
        window = self.window
        if window is None:
            return list(candidates)
        room, room_bytes = window.room, window.room_bytes
        chosen: list[Outgoing] = []
        for item in candidates:
            size = len(item.frame)
            if room <= 0 or (size > room_bytes and (chosen or len(window))):
                break
            chosen.append(item)
            room -= 1
            room_bytes -= size
        return chosen

    def sending(self, agents: Iterable[Outgoing]) -> None:
        """These agent frames are about to be written: with a window they wait there.

        They move before the write because the recipient may acknowledge one before the
        write returns; they stay until acknowledged or taken back (:meth:`take_all`).
        """
        if self.window is not None:
            for item in agents:
                self.window.add(item)

    def written(self, items: Iterable[Outgoing]) -> Delivered:
        """``items`` were written: delivered now, unless the recipient acknowledges them."""
        if self.window is not None:
            return NOTHING_DELIVERED
        delivered = tuple(item for item in items if item.kind is not Kind.CONTROL)
        return Delivered(delivered) if delivered else NOTHING_DELIVERED

    def acknowledged(self, ids: Iterable[str]) -> Delivered:
        """The recipient acknowledged ``ids``: those frames in flight are delivered."""
        if self.window is None:
            return NOTHING_DELIVERED
        return Delivered(tuple(self.window.acknowledge(ids)))

    def held_tokens(self) -> set[str]:
        """Store tokens of the frames in flight that the backend holds."""
        return set() if self.window is None else self.window.held_tokens()

    def take_all(self) -> list[Outgoing]:
        """The session ended: every frame in flight, in the order written (none without)."""
        return [] if self.window is None else self.window.take_all()


WITHOUT_ACKS = Delivery()
"""The decisions of every session without recipient acknowledgements (it holds no state)."""


def _error(code: ErrorCode, message: str) -> IoapError:
    return error_from_code(code, message)
