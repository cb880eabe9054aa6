"""Task events to the streams that watch them (SendStreamingMessage, SubscribeToTask).

:class:`TaskEvents` hands each event published for a task to every stream subscribed to it
in this process; a subscriber's queue is bounded, and a stream that falls that far behind
is ended (its client can GetTask or subscribe again).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

from a2a.types import Task, TaskArtifactUpdateEvent, TaskStatusUpdateEvent

__all__ = ["QUEUE_SIZE", "Event", "TaskEvents"]

Event = Task | TaskStatusUpdateEvent | TaskArtifactUpdateEvent
"""What a task stream carries."""

QUEUE_SIZE = 64
"""Events a subscriber may have unread before its stream is ended."""


class TaskEvents:
    """Subscribers per task id."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[Event | None]]] = {}

    def subscribers(self, task_id: str) -> int:
        """How many streams watch ``task_id``."""
        return len(self._subscribers.get(task_id, ()))

    @contextlib.contextmanager
    def subscribe(self, task_id: str) -> Iterator[asyncio.Queue[Event | None]]:
        """A queue receiving ``task_id``'s events while the ``with`` block runs."""
        queue: asyncio.Queue[Event | None] = asyncio.Queue(QUEUE_SIZE)
        self._subscribers.setdefault(task_id, set()).add(queue)
        try:
            yield queue
        finally:
            queues = self._subscribers.get(task_id)
            if queues is not None:
                queues.discard(queue)
                if not queues:
                    del self._subscribers[task_id]

    def publish(self, task_id: str, event: Event, *, final: bool = False) -> None:
        """Give ``event`` to every subscriber of ``task_id``; ``final`` ends their streams."""
        for queue in list(self._subscribers.get(task_id, ())):
            try:
                queue.put_nowait(event)
                if final:
                    queue.put_nowait(None)
            except asyncio.QueueFull:
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
                queue.put_nowait(None)  # too slow: the stream ends here

    @staticmethod
    async def drain(queue: asyncio.Queue[Event | None]) -> AsyncIterator[Event]:
        """The events of ``queue`` until the stream ends."""
        while (event := await queue.get()) is not None:
            yield event
