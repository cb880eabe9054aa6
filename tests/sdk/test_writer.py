"""The outgoing half: what the Writer writes on each session, re-signing, holds and 1009.

Driven with a stand-in for the WebSocket that records what is written (the Writer only
calls its ``send``); the same paths run against a real gateway in test_reconnect and
test_limits.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from aiconexus import Identity, Message, MessageTooLargeError, MessageType, format_timestamp
from aiconexus._session import Session
from aiconexus._window import INITIAL_WINDOW, MIN_RTO_S
from aiconexus._writer import Writer, check_outgoing

ME = Identity.from_seed(b"1" * 32)
PEER = Identity.from_seed(b"2" * 32)
GATEWAY = Identity.from_seed(b"g" * 32)


class Wire:
    def __init__(self) -> None:
        self.written: list[Message] = []
        self._grew = asyncio.Event()

    async def send(self, text: str) -> None:
        self.written.append(Message.parse(text))
        self._grew.set()

    async def wait_for(self, count: int) -> None:
        while len(self.written) < count:
            self._grew.clear()
            await self._grew.wait()


def session(wire: Wire) -> Session:
    return Session(
        url="ws://127.0.0.1:1/ws",
        connection=wire,  # type: ignore[arg-type]
        gateway_did=GATEWAY.did,
        session_id="s",
        heartbeat_interval_s=15.0,
        queued=0,
    )


def offer(n: int, sent: datetime | None = None) -> Message:
    stamp = format_timestamp(sent or datetime.now(UTC))
    return Message.create(ME, MessageType.OFFER, PEER.did, {"sdp": str(n)}, timestamp=stamp)


async def test_each_session_gets_every_unacknowledged_frame_in_order_once() -> None:
    """A flush writes the outbox oldest first; a second flush on the same session writes nothing."""
    wire = Wire()
    writer = Writer(ME, resign_after_s=60.0)
    sent = [offer(n) for n in range(3)]
    entries = [writer.add(message) for message in sent]
    second_wire = Wire()
    first, second = session(wire), session(second_wire)
    writer.begin(first)
    await writer.flush(first)
    await writer.flush(first)
    assert [m.id for m in wire.written] == [m.id for m in sent]
    assert writer.online.is_set()
    writer.end()
    assert not writer.online.is_set() and writer.session is None
    writer.begin(second)
    await writer.flush(second)
    assert [m.id for m in second_wire.written] == [m.id for m in sent]
    assert [entry.attempts for entry in entries] == [2, 2, 2]


async def test_a_frame_older_than_the_allowance_is_resigned_with_its_id() -> None:
    """Written again after a long outage: new timestamp and signature, same id."""
    wire = Wire()
    writer = Writer(ME, resign_after_s=60.0)
    old = offer(0, datetime.now(UTC) - timedelta(seconds=120))
    writer.add(old)
    current = session(wire)
    writer.begin(current)
    await writer.flush(current)
    (written,) = wire.written
    assert written.id == old.id and written.timestamp != old.timestamp
    written.verify()


async def test_nothing_is_written_while_offline_or_on_hold() -> None:
    """write() waits for the next flush when offline, and during a RATE_LIMITED hold."""
    wire = Wire()
    writer = Writer(ME, resign_after_s=60.0)
    early = writer.add(offer(0))
    await writer.write(early)
    assert wire.written == []
    current = session(wire)
    writer.begin(current)
    await writer.flush(current)
    writer.hold(early, 0.05)
    late = writer.add(offer(1))
    await writer.write(late)
    assert [m.id for m in wire.written] == [early.message.id]
    async with asyncio.timeout(5):
        await wire.wait_for(3)
    assert [m.id for m in wire.written] == [early.message.id, early.message.id, late.message.id]
    writer.stop()


async def test_a_frame_left_unanswered_is_written_again_under_its_id() -> None:
    """No answer to anything for the re-send delay: the frame is written again, same id."""
    wire = Wire()
    writer = Writer(ME, resign_after_s=60.0)
    writer.timer.sample(0.0)  # a fast gateway: the shortest delay
    entry = writer.add(offer(0))
    current = session(wire)
    writer.begin(current)
    await writer.flush(current)
    async with asyncio.timeout(5):
        await wire.wait_for(2)
    assert [m.id for m in wire.written] == [entry.message.id] * 2
    assert writer.window.limit == INITIAL_WINDOW
    writer.settle([entry], "delivered")
    assert writer.in_flight == 0
    await asyncio.sleep(MIN_RTO_S * 2)
    assert len(wire.written) == 2
    writer.stop()


async def test_after_rate_limited_the_window_starts_small_and_grows_with_each_ack() -> None:
    """After the hold: INITIAL_WINDOW frames, then twice as many per round of ACKs."""
    wire = Wire()
    writer = Writer(ME, resign_after_s=60.0)
    entries = [writer.add(offer(n)) for n in range(20)]
    current = session(wire)
    writer.begin(current)
    await writer.flush(current)
    assert len(wire.written) == 20  # unbounded until the gateway pushes back
    writer.hold(entries[0], 0.01)
    async with asyncio.timeout(5):
        await wire.wait_for(20 + INITIAL_WINDOW)
    await asyncio.sleep(0.05)
    resent = [m.id for m in wire.written[20:]]
    assert resent == [e.message.id for e in entries[:INITIAL_WINDOW]]
    first_round = entries[:INITIAL_WINDOW]
    writer.settle(first_round, "delivered")
    async with asyncio.timeout(5):
        await wire.wait_for(20 + 3 * INITIAL_WINDOW)
    await asyncio.sleep(0.05)
    resent = [m.id for m in wire.written[20:]]
    assert resent == [e.message.id for e in entries[: 3 * INITIAL_WINDOW]]
    writer.stop()


async def test_close_1009_fails_the_largest_frame_written_on_the_session() -> None:
    """That frame would close every next connection too: it fails instead of being re-sent."""
    wire = Wire()
    writer = Writer(ME, resign_after_s=60.0)
    small = writer.add(offer(0))
    big = writer.add(Message.create(ME, MessageType.OFFER, PEER.did, {"sdp": "x" * 1000}))
    current = session(wire)
    writer.begin(current)
    await writer.flush(current)
    writer.fail_largest_written("message too big")
    with pytest.raises(MessageTooLargeError, match="1009"):
        big.future.result()
    assert not small.future.done() and writer.awaiting(small.message.id) is small


def test_check_outgoing_refuses_what_the_gateway_would() -> None:
    """Over the size limit: MESSAGE_TOO_LARGE before any write."""
    message = offer(0)
    check_outgoing(message, 10_000)
    with pytest.raises(MessageTooLargeError):
        check_outgoing(message, 100)
