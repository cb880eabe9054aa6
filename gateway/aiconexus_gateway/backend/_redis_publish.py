"""Cross-node frames of one event-loop turn leave as one script call per destination node.

Every frame routed to a session on another node during one loop turn is added to that
node's open batch; the batch is published in the next turn as one ``SEND`` script call
(one ``PUBLISH`` of one channel message, and the replay markers of all its frames marked
handed on in the same atomic step). A batch of one frame is a plain ``DELIVER`` message; a
batch of several is a ``BATCH`` message (see :mod:`._redis_codec`), which the receiving node
unpacks and delivers in order. Batches leave in the order they were opened, on the one
pipelined connection, so frames keep their order per destination (a node reads both of its
channels on one subscriber connection, in publishing order). Each caller's future resolves
with the number of subscribers that received the batch (0: the node is gone).

``BATCH`` messages go on a channel of their own (:data:`BATCH_CHANNEL`), which only nodes
that understand them listen to: in a cluster being upgraded, a batch for a node of an older
version reaches no subscriber (0), so its frames take the path of an unreachable node (the
store), never a node that would drop them.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiconexus_gateway.backend._redis_codec import batch_message, deliver_message
from aiconexus_gateway.backend._redis_pipeline import AutoPipeline, Script

__all__ = ["BATCH_CHANNEL", "CHANNEL", "NodeBatches"]

CHANNEL = "ch:"
"""A node's channel (key prefix + this + node id): single frames and notices."""
BATCH_CHANNEL = "chb:"
"""A node's channel for ``BATCH`` messages (listened to by nodes that unpack them)."""

MAX_FRAMES = 256
"""Most frames in one batch; a full batch is closed and the next frame opens another."""
MAX_CHARS = 1 << 20
"""Most characters of frames in one batch (a larger frame still goes, alone)."""


class _Batch:
    """Frames for one node gathered in one loop turn, and the future they share."""

    __slots__ = ("chars", "entries", "future", "markers")

    def __init__(self, future: asyncio.Future[int]) -> None:
        self.entries: list[tuple[str, str]] = []
        self.markers: list[str] = []
        self.chars = 0
        self.future = future


class NodeBatches:
    """Open batches per destination node, each published by its own task in opening order."""

    def __init__(self, pipe: AutoPipeline, script: Script, prefix: str) -> None:
        self._pipe = pipe
        self._script = script
        self._prefix = prefix
        self._open: dict[str, _Batch] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def add(self, node_id: str, recipient: str, frame: str, marker: str) -> asyncio.Future[int]:
        """Queue ``frame`` for ``recipient`` on ``node_id``; the future gives the receivers.

        ``marker``: the frame's replay marker suffix (``""`` if none), marked handed on once
        the node received the batch.
        """
        batch = self._open.get(node_id)
        if batch is None or len(batch.entries) >= MAX_FRAMES or batch.chars >= MAX_CHARS:
            loop = asyncio.get_running_loop()
            batch = _Batch(loop.create_future())
            self._open[node_id] = batch
            task = loop.create_task(self._publish(node_id, batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        batch.entries.append((recipient, frame))
        batch.chars += len(frame)
        if marker:
            batch.markers.append(marker)
        return batch.future

    async def _publish(self, node_id: str, batch: _Batch) -> None:
        # Runs one loop turn after the batch opened: every frame of that turn is in it.
        if self._open.get(node_id) is batch:
            del self._open[node_id]
        entries = batch.entries
        one = len(entries) == 1
        message = deliver_message(*entries[0]) if one else batch_message(entries)
        channel = CHANNEL if one else BATCH_CHANNEL
        try:
            receivers: Any = await self._pipe.script(
                self._script, self._prefix, node_id, channel, message, *batch.markers
            )
        except BaseException as exc:
            if not batch.future.done():
                batch.future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        if not batch.future.done():
            batch.future.set_result(int(receivers))
