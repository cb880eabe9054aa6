"""Bookkeeping of frames awaiting an answer: unacknowledged sends and awaited replies.

Both are plain data structures around :class:`asyncio.Future`; they do no I/O, so they can be
tested without a gateway. A client's :class:`Outbox` has one owner, the
:class:`~aiconexus._writer.Writer`: the other parts ask the writer, never the outbox.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from aiconexus.protocol import Message, MessageType

__all__ = ["DeliveryStatus", "Outbox", "OutboxEntry", "ReplyWaiters"]

DeliveryStatus = Literal["delivered", "queued"]
"""What the gateway's ACK says: handed to the recipient's connection, or stored for it."""


@dataclass(slots=True)
class OutboxEntry:
    """One frame sent (or to be sent) to the gateway, not yet acknowledged.

    Its state changes only in the outbox's owner (the Writer); others read it.
    """

    message: Message
    future: asyncio.Future[DeliveryStatus]
    attempts: int = 0
    """How many times the frame was written to a connection."""
    written_on: int = field(default=-1)
    """Number of the connection it was last written to (-1: not written on this one)."""
    seq: int = 0
    """Position in the outbox: frames are written in this order."""
    written_at: float = 0.0
    """Loop time of the last write."""
    accepted: bool = False
    """The gateway took a copy written on this connection (a re-send was REPLAY_DETECTED):
    its ACK or ERROR is on the way; it is not written again on this connection."""
    resumed: bool = False
    """It was written on an earlier connection (whose answer may have been lost)."""
    uncertain: int = 0
    """How many times the gateway answered INTERNAL_ERROR (outcome unknown): the frame is
    written again, same id, and a REPLAY_DETECTED to a later copy means it was taken."""


class Outbox:
    """Unacknowledged frames, in the order they were submitted.

    The order matters: after a reconnection the frames are written again in exactly this
    order, so the recipient sees each sender's frames in the order they were sent.
    """

    def __init__(self) -> None:
        self._entries: dict[str, OutboxEntry] = {}
        self._added = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, message_id: object) -> bool:
        return message_id in self._entries

    def add(self, message: Message) -> OutboxEntry:
        """Track ``message`` until it is acknowledged; raise ValueError on a duplicate id."""
        if message.id in self._entries:
            raise ValueError(f"a message with id {message.id!r} is already awaiting its ACK")
        future: asyncio.Future[DeliveryStatus] = asyncio.get_running_loop().create_future()
        self._added += 1
        entry = OutboxEntry(message=message, future=future, seq=self._added)
        self._entries[message.id] = entry
        return entry

    def get(self, message_id: str) -> OutboxEntry | None:
        """The entry for ``message_id``, if it is still awaiting its ACK."""
        return self._entries.get(message_id)

    def entries(self) -> Iterator[OutboxEntry]:
        """Iterate over a snapshot of the entries, oldest first."""
        return iter(list(self._entries.values()))

    def replace(self, message: Message) -> None:
        """Swap in a re-signed version of a tracked message (same id, new timestamp)."""
        self._entries[message.id].message = message

    def acknowledge(self, message_id: str, status: DeliveryStatus) -> bool:
        """Resolve the entry with ``status``; False if the id is not awaited (any more)."""
        entry = self._entries.pop(message_id, None)
        if entry is None:
            return False
        if not entry.future.done():
            entry.future.set_result(status)
        return True

    def reject(self, message_id: str, error: BaseException) -> bool:
        """Fail the entry with ``error``; False if the id is not awaited (any more)."""
        entry = self._entries.pop(message_id, None)
        if entry is None:
            return False
        if not entry.future.done():
            entry.future.set_exception(error)
        return True

    def discard(self, message_id: str) -> None:
        """Stop tracking ``message_id`` (its sender gave up waiting)."""
        self._entries.pop(message_id, None)

    def reject_all(self, error: BaseException) -> None:
        """Fail every entry with ``error`` (the client is closing)."""
        for message_id in list(self._entries):
            self.reject(message_id, error)


@dataclass(slots=True)
class _Waiter:
    peer: str
    types: frozenset[MessageType]
    future: asyncio.Future[Message]


class ReplyWaiters:
    """Futures waiting for the frame whose ``correlation_id`` answers a given id.

    A reply is only accepted from the peer the original frame was sent to and with one of the
    expected types, so no third party can answer someone else's request.
    """

    def __init__(self) -> None:
        self._waiters: dict[str, _Waiter] = {}

    def __len__(self) -> int:
        return len(self._waiters)

    def expect(
        self, correlation_id: str, peer: str, types: Iterable[MessageType]
    ) -> asyncio.Future[Message]:
        """Await the reply to ``correlation_id``: one of ``types``, from ``peer``."""
        if correlation_id in self._waiters:
            raise ValueError(f"a reply to {correlation_id!r} is already awaited")
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._waiters[correlation_id] = _Waiter(peer, frozenset(types), future)
        return future

    def resolve(self, message: Message) -> bool:
        """Hand ``message`` to the waiter it answers; False if nobody awaits it."""
        if message.correlation_id is None:
            return False
        waiter = self._waiters.get(message.correlation_id)
        if waiter is None or waiter.peer != message.from_ or message.type not in waiter.types:
            return False
        del self._waiters[message.correlation_id]
        if not waiter.future.done():
            waiter.future.set_result(message)
        return True

    def cancel(self, correlation_id: str) -> None:
        """Forget the waiter for ``correlation_id`` (timed out or cancelled)."""
        waiter = self._waiters.pop(correlation_id, None)
        if waiter is not None and not waiter.future.done():
            waiter.future.cancel()

    def fail(self, correlation_id: str, error: BaseException) -> bool:
        """Fail the waiter for ``correlation_id`` with ``error``; False if none."""
        waiter = self._waiters.pop(correlation_id, None)
        if waiter is None:
            return False
        if not waiter.future.done():
            waiter.future.set_exception(error)
        return True

    def fail_all(self, error: BaseException) -> None:
        """Fail every waiter with ``error`` (the client is closing)."""
        for correlation_id in list(self._waiters):
            self.fail(correlation_id, error)
