"""LeanEvent and LeanQueue behave as asyncio's Event and Queue do for what the gateway uses."""

from __future__ import annotations

import asyncio

import pytest

from aiconexus_gateway.lean import LeanEvent, LeanQueue


async def test_event_wakes_every_waiter_and_clears() -> None:
    """set() wakes all waiters; wait() returns at once while set; clear() resets."""
    event = LeanEvent()
    assert not event.is_set()
    waiters = [asyncio.create_task(event.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    event.set()
    assert await asyncio.gather(*waiters) == [True, True, True]
    assert event.is_set() and await event.wait()
    event.clear()
    late = asyncio.create_task(event.wait())
    await asyncio.sleep(0)
    assert not late.done()
    event.set()
    assert await late


async def test_event_cancelled_waiter_does_not_block_others() -> None:
    """A cancelled waiter leaves; the others still wake."""
    event = LeanEvent()
    first = asyncio.create_task(event.wait())
    second = asyncio.create_task(event.wait())
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    event.set()
    assert await second


async def test_queue_keeps_order_and_waits() -> None:
    """Items come out in order; get() waits for the next put_nowait()."""
    queue: LeanQueue[int] = LeanQueue()
    assert queue.empty() and queue.qsize() == 0
    queue.put_nowait(1)
    queue.put_nowait(2)
    assert queue.qsize() == 2
    assert [await queue.get(), await queue.get()] == [1, 2]
    getter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    assert not getter.done()
    queue.put_nowait(3)
    assert await getter == 3
    assert queue.empty()


async def test_queue_item_survives_a_cancelled_getter() -> None:
    """A getter cancelled after being woken passes the item on to the next getter."""
    queue: LeanQueue[str] = LeanQueue()
    first = asyncio.create_task(queue.get())
    second = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait("frame")
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await asyncio.wait_for(second, 1) == "frame"
