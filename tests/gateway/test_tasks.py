"""stop_task: a background task that loses a cancellation is still stopped."""

from __future__ import annotations

import asyncio

from aiconexus_gateway.tasks import stop_task


async def test_a_task_that_swallows_one_cancellation_is_stopped() -> None:
    """As a loop around a call whose wait_for swallowed the cancel would: cancelled again."""
    cancels = 0

    async def stubborn() -> None:
        nonlocal cancels
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                cancels += 1
                if cancels > 1:
                    raise

    task = asyncio.get_running_loop().create_task(stubborn())
    await asyncio.sleep(0)
    async with asyncio.timeout(5):
        await stop_task(task, every=0.05)
    assert task.cancelled() and cancels == 2


async def test_none_and_finished_tasks_are_fine() -> None:
    """Nothing to stop, or a task that already ended with an error: stop_task returns."""
    await stop_task(None)

    async def fails() -> None:
        raise RuntimeError("boom")

    task = asyncio.get_running_loop().create_task(fails())
    await asyncio.wait({task})
    await stop_task(task)
    assert isinstance(task.exception(), RuntimeError)
