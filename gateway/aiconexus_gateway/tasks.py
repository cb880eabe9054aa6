"""Stopping a background task for sure.

On Python 3.11 ``asyncio.wait_for`` returns the inner result when the inner call completes in
the same loop iteration as a ``cancel()`` of the waiting task, and the cancellation is lost
(3.12 rewrote ``wait_for``). redis-py waits with ``wait_for`` on every socket read, so a
background loop that calls Redis and carries on after an error can outlive one ``cancel()``
and keep shutdown waiting forever. :func:`stop_task` cancels until the task has ended.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

__all__ = ["stop_task"]

logger = logging.getLogger("aiconexus_gateway.tasks")


async def stop_task(task: asyncio.Task[Any] | None, *, every: float = 0.5) -> None:
    """Cancel ``task`` (again every ``every`` seconds while it runs) and wait for its end."""
    if task is None:
        return
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=every)
    if not task.cancelled() and task.exception() is not None:
        logger.warning("task %s ended with %r", task.get_name(), task.exception())
