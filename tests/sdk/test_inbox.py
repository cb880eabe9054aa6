"""The inbox of received frames, without a gateway: bound, order, selective takes, close."""

from __future__ import annotations

import asyncio

import pytest

from aiconexus import Identity, Message, MessageType
from aiconexus._inbox import Inbox

ME = Identity.from_seed(b"1" * 32)
PEER = Identity.from_seed(b"2" * 32)


def frame(type: MessageType, n: int) -> Message:
    payload = {"sdp": str(n)} if type is MessageType.OFFER else {"query": str(n)}
    return Message.create(PEER, type, ME.did, payload)


async def test_the_bound_refuses_and_frames_come_out_in_order() -> None:
    """Past ``limit`` put() refuses; get() returns the oldest first; holds() follows."""
    inbox = Inbox(2)
    first, second, third = (frame(MessageType.INTENT, n) for n in range(3))
    assert inbox.put(first) and inbox.put(second) and not inbox.put(third)
    assert inbox.holds(PEER.did, first.id) and not inbox.holds(PEER.did, third.id)
    assert await inbox.get() is first
    assert not inbox.holds(PEER.did, first.id)
    assert inbox.put(third)
    assert [await inbox.get(), await inbox.get()] == [second, third]
    with pytest.raises(ValueError):
        Inbox(0)


async def test_a_selective_reader_leaves_other_frames_waiting_within_bounds() -> None:
    """Refused frames wait; past keep_at_most, or after keep_for_s, the oldest comes out."""
    inbox = Inbox(10)
    offers = [frame(MessageType.OFFER, n) for n in range(3)]
    intent = frame(MessageType.INTENT, 9)
    for message in (*offers[:2], intent):
        inbox.put(message)

    def intents(message: Message) -> bool:
        return message.type is MessageType.INTENT

    assert await inbox.get(intents, keep_at_most=2) is intent
    inbox.put(offers[2])
    assert await inbox.get(intents, keep_at_most=2) is offers[0]  # three waiting, two kept
    waiting = asyncio.create_task(inbox.get(intents, keep_for_s=0.05))
    assert await asyncio.wait_for(waiting, 5) is offers[1]  # waited its time
    later = asyncio.create_task(inbox.get(intents))
    await asyncio.sleep(0)
    assert not later.done()
    inbox.wake()  # e.g. a handler was attached: accept changed
    await asyncio.sleep(0)
    assert not later.done()
    inbox.close()
    assert await asyncio.wait_for(later, 5) is None
    assert await inbox.get() is offers[2]  # drained after close
    assert await inbox.get() is None
