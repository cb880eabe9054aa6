"""PerTurnVerifier: single verify calls gathered into one batch per event loop turn.

Frames arrive one by one; :meth:`PerTurnVerifier.verify` lets each caller await its own
verdict while every call made in the same loop turn goes to the thread pool as one batch (the
first call of a turn schedules the hand-over with ``call_soon``, so it runs after the
callbacks already due). A turn with more items than the verifier's bounds allow is split into
several batches. Verdicts are handed out in the order the calls were made, across batches
(a batch finished early waits for the ones before it), so callers that resume in that order
(asyncio wakes waiters first come, first served) keep the order of their frames. I/O-free
apart from the pool.
"""

from __future__ import annotations

import asyncio

from .backends import Item
from .errors import MessageTooLongError
from .pool import AsyncBatchVerifier

__all__ = ["PerTurnVerifier"]


class PerTurnVerifier:
    """``await verify(public_key, message, signature)``, batched per loop turn on ``pool``.

    Build it inside the running loop that will call it. ``batches`` and ``items`` count what
    was handed to the pool (for metrics and tests). ``inline_max``: a turn with at most this
    many items while no batch is being verified is verified on the loop's thread at once
    (light load: a hand-over would cost the loop more than the verification, and add its
    latency); ``inline_items`` counts those.
    """

    def __init__(self, pool: AsyncBatchVerifier, *, inline_max: int = 0) -> None:
        self.pool = pool
        self.inline_max = inline_max
        self.batches = 0
        self.items = 0
        self.inline_items = 0
        self._pending: list[tuple[Item, asyncio.Future[bool]]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._last: asyncio.Task[None] | None = None

    async def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        """The item's verdict; raises :class:`MessageTooLongError` for an oversized message."""
        return await self.submit(public_key, message, signature)

    def submit(self, public_key: bytes, message: bytes, signature: bytes) -> asyncio.Future[bool]:
        """A future of the item's verdict, in this turn's batch (call on the loop's thread).

        Raises :class:`MessageTooLongError` at once for an oversized message.
        """
        limit = self.pool.verifier.max_message_bytes
        if len(message) > limit:
            raise MessageTooLongError(0, len(message), limit)
        loop = asyncio.get_running_loop()
        if not self._pending:
            loop.call_soon(self._flush)
        future: asyncio.Future[bool] = loop.create_future()
        self._pending.append(((public_key, message, signature), future))
        return future

    @property
    def busy(self) -> bool:
        """True while items wait for this turn's hand-over or a batch is being verified."""
        return bool(self._pending or self._tasks)

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        if len(pending) <= self.inline_max and not self._tasks:
            self.inline_items += len(pending)
            verdicts = self.pool.verifier.verify_many([item for item, _ in pending])
            for (_, future), verdict in zip(pending, verdicts, strict=True):
                if not future.done():
                    future.set_result(verdict)
            return
        verifier = self.pool.verifier
        chunk: list[tuple[Item, asyncio.Future[bool]]] = []
        weight = 0
        for entry in pending:
            size = len(entry[0][1])
            if chunk and (
                len(chunk) == verifier.max_items or weight + size > verifier.max_total_bytes
            ):
                self._submit(chunk)
                chunk, weight = [], 0
            chunk.append(entry)
            weight += size
        if chunk:
            self._submit(chunk)

    def _submit(self, chunk: list[tuple[Item, asyncio.Future[bool]]]) -> None:
        self.batches += 1
        self.items += len(chunk)
        task = asyncio.get_running_loop().create_task(self._run(chunk, self._last))
        self._last = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(
        self, chunk: list[tuple[Item, asyncio.Future[bool]]], before: asyncio.Task[None] | None
    ) -> None:
        try:
            verdicts = await self.pool.verify_many([item for item, _ in chunk])
            if before is not None and not before.done():
                await asyncio.wait((before,))  # verdicts in the order of the calls
        except asyncio.CancelledError:
            for _, future in chunk:
                future.cancel()
            raise
        except Exception as exc:  # every waiter learns why (e.g. the pool was closed)
            for _, future in chunk:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), verdict in zip(chunk, verdicts, strict=True):
            if not future.done():
                future.set_result(verdict)
