"""AsyncBatchVerifier: one batch per call, verified on a small thread pool off the loop.

The event loop awaits :meth:`AsyncBatchVerifier.verify_many` and keeps parsing and routing
while a worker thread verifies; with the native backend the GIL is free for the whole batch,
so with one worker per core every core verifies. Feed it one batch per loop turn (gather the
frames a turn read, then one call), not one call per frame: each call costs a thread
hand-over.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType

from .backends import Backend, Item
from .verifier import BatchVerifier

__all__ = ["AsyncBatchVerifier", "default_workers"]


def default_workers() -> int:
    """One worker per core this process may run on."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


class AsyncBatchVerifier:
    """Runs :meth:`BatchVerifier.verify_many` on ``workers`` threads (default: one per core).

    Use as ``async with AsyncBatchVerifier() as pool: verdicts = await pool.verify_many(...)``
    or call :meth:`close` when done. Bounds are checked on the loop before any hand-over, so a
    refused batch raises :class:`BatchVerifyError` at once.
    """

    def __init__(self, verifier: BatchVerifier | None = None, *, workers: int | None = None):
        self.verifier = verifier if verifier is not None else BatchVerifier()
        self.workers = workers if workers is not None else default_workers()
        if self.workers < 1:
            raise ValueError("workers must be at least 1")
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="ed25519-batch")

    @property
    def backend(self) -> Backend:
        """The backend of the wrapped verifier (``"native"`` or ``"pynacl"``)."""
        return self.verifier.backend

    async def verify_many(self, items: Sequence[Item]) -> list[bool]:
        """One verdict per item, verified on a worker thread; the loop stays free meanwhile."""
        self.verifier.check(items)
        if not items:
            return []
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.verifier.verify_many, items)

    def close(self) -> None:
        """Stop the workers after the batches already submitted."""
        self._pool.shutdown(wait=True)

    async def __aenter__(self) -> AsyncBatchVerifier:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
