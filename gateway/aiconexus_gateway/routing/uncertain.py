"""Frames answered INTERNAL_ERROR: their outcome is unknown, and their ids are freed.

INTERNAL_ERROR means "outcome unknown, send the same frame (same id) again" (PROTOCOL.md
8.2): a backend command that timed out may still have run (a Redis that was stopped runs it
when it resumes). So the gateway does not decide on its own that such a frame was dropped.
It frees the frame's replay marker only where the backend shows the frame was not taken (a
marker still pending on this node; :meth:`Backend.forget`), retrying while the backend is
unreachable, and a copy sent again meanwhile gets the same treatment at once. A frame that
was taken after all keeps its marker, and its copy is answered REPLAY_DETECTED: the first copy
is on its way, and a client reads that answer to a re-sent copy as "taken".
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict

from aiconexus.backoff import Backoff
from aiconexus_gateway.backend.base import Backend, BackendUnavailableError

__all__ = ["MAX_UNCERTAIN", "UncertainFrames"]

logger = logging.getLogger("aiconexus.gateway")

MAX_UNCERTAIN = 100_000
"""Most ids waiting to be freed (the oldest are given up first: they stay used up)."""
RETRY = Backoff(initial_delay=0.25, max_delay=5.0, jitter=0.0)
"""Pauses between two tries to free ids while the backend is unreachable (reset by a success)."""


class UncertainFrames:
    """(sender, id) pairs answered INTERNAL_ERROR whose replay marker is not freed yet."""

    def __init__(self, backend: Backend, *, limit: int = MAX_UNCERTAIN) -> None:
        self._backend = backend
        self._limit = limit
        self._ids: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, key: object) -> bool:
        return key in self._ids

    def add(self, sender: str, message_id: str) -> None:
        """Free the id of (sender, id) as soon as the backend answers."""
        self._ids[(sender, message_id)] = None
        while len(self._ids) > self._limit:
            self._ids.popitem(last=False)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._free_all())

    async def free(self, sender: str, message_id: str) -> None:
        """Free (sender, id) now; BackendUnavailableError while the backend is unreachable."""
        await self._backend.forget(sender, message_id)
        self._ids.pop((sender, message_id), None)

    async def _free_all(self) -> None:
        pauses = RETRY.delays()
        while self._ids:
            sender, message_id = next(iter(self._ids))
            try:
                await self.free(sender, message_id)
            except BackendUnavailableError as exc:
                logger.debug("cannot free the id of a frame yet: %s", exc)
                await asyncio.sleep(next(pauses))
            else:
                pauses = RETRY.delays()

    async def stop(self) -> None:
        """Stop trying (the gateway stops)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
