"""Outbox and reply correlation: order, acknowledgement, rejection, peer and type checks."""

from __future__ import annotations

import asyncio

import pytest

from aiconexus import Identity, Message, MessageType, UnknownAgentError
from aiconexus._pending import Outbox, ReplyWaiters

ALICE = Identity.from_seed(b"a" * 32)
BOB = Identity.from_seed(b"b" * 32)
MALLORY = Identity.from_seed(b"m" * 32)


def offer(number: int) -> Message:
    return Message.create(ALICE, MessageType.OFFER, BOB.did, {"sdp": f"v=0 {number}"})


async def test_outbox_keeps_submission_order() -> None:
    """Entries come back oldest first, which is the order they are re-sent in."""
    outbox = Outbox()
    messages = [offer(n) for n in range(5)]
    for message in messages:
        outbox.add(message)
    assert [e.message.id for e in outbox.entries()] == [m.id for m in messages]


async def test_acknowledge_resolves_with_the_status_and_forgets() -> None:
    """An ACK resolves the future with its status and removes the entry."""
    outbox = Outbox()
    entry = outbox.add(offer(1))
    assert outbox.acknowledge(entry.message.id, "queued")
    assert await entry.future == "queued"
    assert entry.message.id not in outbox
    assert not outbox.acknowledge(entry.message.id, "delivered")


async def test_reject_fails_the_future_with_the_error() -> None:
    """An ERROR for the id raises its typed exception in the sender."""
    outbox = Outbox()
    entry = outbox.add(offer(1))
    outbox.reject(entry.message.id, UnknownAgentError("gone"))
    with pytest.raises(UnknownAgentError):
        await entry.future
    assert len(outbox) == 0


async def test_duplicate_ids_are_refused() -> None:
    """Two pending frames can never share an id."""
    outbox = Outbox()
    message = offer(1)
    outbox.add(message)
    with pytest.raises(ValueError):
        outbox.add(message)


async def test_replace_swaps_in_a_resigned_message() -> None:
    """A re-signed message with the same id replaces the tracked one in place."""
    outbox = Outbox()
    original = offer(1)
    outbox.add(original)
    outbox.add(offer(2))
    resigned = Message.create(ALICE, MessageType.OFFER, BOB.did, original.payload, id=original.id)
    outbox.replace(resigned)
    first = next(outbox.entries())
    assert first.message is resigned


async def test_reject_all_fails_every_pending_send() -> None:
    """Closing fails every pending future."""
    outbox = Outbox()
    entries = [outbox.add(offer(n)) for n in range(3)]
    outbox.reject_all(ConnectionError("closed"))
    for entry in entries:
        with pytest.raises(ConnectionError):
            await entry.future


async def test_reply_from_the_peer_resolves_the_waiter() -> None:
    """A reply with the right correlation id, peer and type resolves the future."""
    waiters = ReplyWaiters()
    request = Message.create(ALICE, MessageType.EXEC_REQUEST, BOB.did, {"args": {}})
    future = waiters.expect(request.id, BOB.did, {MessageType.EXEC_RESPONSE})
    response = Message.create(
        BOB, MessageType.EXEC_RESPONSE, ALICE.did, {"status": "success"}, correlation_id=request.id
    )
    assert waiters.resolve(response)
    assert await future is response
    assert len(waiters) == 0


async def test_reply_from_a_third_party_is_not_taken() -> None:
    """Nobody but the requested peer can answer a request."""
    waiters = ReplyWaiters()
    request = Message.create(ALICE, MessageType.EXEC_REQUEST, BOB.did, {"args": {}})
    future = waiters.expect(request.id, BOB.did, {MessageType.EXEC_RESPONSE})
    forged = Message.create(
        MALLORY,
        MessageType.EXEC_RESPONSE,
        ALICE.did,
        {"status": "success"},
        correlation_id=request.id,
    )
    assert not waiters.resolve(forged)
    assert not future.done()


async def test_reply_of_another_type_is_not_taken() -> None:
    """An OFFER carrying the request id as correlation id does not answer the request."""
    waiters = ReplyWaiters()
    request = Message.create(ALICE, MessageType.EXEC_REQUEST, BOB.did, {"args": {}})
    future = waiters.expect(request.id, BOB.did, {MessageType.EXEC_RESPONSE})
    other = Message.create(
        BOB, MessageType.OFFER, ALICE.did, {"sdp": "x"}, correlation_id=request.id
    )
    assert not waiters.resolve(other)
    assert not future.done()


async def test_cancel_and_fail_all() -> None:
    """Cancel forgets one waiter; fail_all fails the rest."""
    waiters = ReplyWaiters()
    first = waiters.expect("one", BOB.did, {MessageType.PONG})
    second = waiters.expect("two", BOB.did, {MessageType.PONG})
    waiters.cancel("one")
    assert first.cancelled()
    waiters.fail_all(ConnectionError("closed"))
    with pytest.raises(ConnectionError):
        await second
    assert len(waiters) == 0
    await asyncio.sleep(0)
