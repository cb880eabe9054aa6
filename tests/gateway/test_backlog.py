"""An agent that comes back to a large backlog drains all of it, in order, at a steady rate.

The backlog is stored through the gateway (every frame ACKed ``queued``), then the SDK reads
it with ``recv()``, ``async for`` or an ``Agent`` handler, with recipient acknowledgements
(the SDK's default) and the default window and queue bounds: far more frames are stored
than SEND_QUEUE_SIZE and INFLIGHT_WINDOW, so the window is refilled many times in one
session while the stored frames still wait in the send queue.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from support.client import RawClient
from support.inprocess import InProcessGateway
from support.starter import StartGateway
from support.waiting import eventually

from aiconexus import Agent, GatewayClient, Identity, Message

BACKLOG = 20_000
"""Frames stored before the recipient comes back (20 x SEND_QUEUE_SIZE)."""
SENDERS = 4
MAX_GAP_S = 5.0
"""Longest pause between two frames of the drain (a stall shows as ACK_TIMEOUT, 30 s)."""

Drain = Callable[[GatewayClient | Agent, str, int], Awaitable[list[Message]]]

BACKLOG_SETTINGS: dict[str, Any] = {
    "store_max_per_agent": BACKLOG,
    "rate_limit_frames_per_s": 0,
    "rate_limit_bytes_per_s": 0,
}


async def store_backlog(gw: InProcessGateway, recipient: Identity, count: int) -> list[Message]:
    """Store ``count`` frames from SENDERS senders for ``recipient``; all ACKed ``queued``."""
    seen = await RawClient.connect(gw.ws_url, recipient)  # a recipient that registered once
    await seen.close()
    await eventually(lambda: recipient.did not in gw.app.hub.sessions)
    senders = [await RawClient.connect(gw.ws_url) for _ in range(SENDERS)]

    async def send(sender: RawClient, share: int) -> list[Message]:
        sent = [sender.make("INTENT", recipient.did, {"query": f"q{i}"}) for i in range(share)]
        for message in sent:
            await sender.send_text(message.to_json())
        acks = await sender.expect_acks(share, within=60)
        assert set(acks.values()) == {"queued"}
        return sent

    shares = await asyncio.gather(*(send(s, count // SENDERS) for s in senders))
    for sender in senders:
        await sender.close()
    return [message for share in shares for message in share]


def check_drained(sent: list[Message], got: list[Message], times: list[float]) -> None:
    """Every frame once, each sender's frames in the order sent, no stall on the way."""
    ids = [m.id for m in got]
    assert len(ids) == len(sent) and set(ids) == {m.id for m in sent}
    for sender in {m.from_ for m in sent}:
        assert [m.id for m in got if m.from_ == sender] == [m.id for m in sent if m.from_ == sender]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps) < MAX_GAP_S, f"the drain stalled for {max(gaps):.1f}s"


async def read_recv(client: GatewayClient, count: int, times: list[float]) -> list[Message]:
    """Read with ``recv()``."""
    got: list[Message] = []
    while len(got) < count:
        async with asyncio.timeout(3 * MAX_GAP_S):
            got.append(await client.recv())
        times.append(time.monotonic())
    return got


async def read_iter(client: GatewayClient, count: int, times: list[float]) -> list[Message]:
    """Read with ``async for``."""
    got: list[Message] = []
    async with asyncio.timeout(3 * MAX_GAP_S + count / 500):
        async for message in client:
            got.append(message)
            times.append(time.monotonic())
            if len(got) == count:
                break
    return got


@pytest.mark.parametrize("reader", [read_recv, read_iter], ids=["recv", "async-for"])
async def test_a_large_backlog_drains_once_in_order(
    start_gateway: StartGateway,
    reader: Callable[[GatewayClient, int, list[float]], Awaitable[list[Message]]],
) -> None:
    """20,000 stored frames reach ``recv()`` / ``async for`` exactly once, no 1013 close."""
    gw = start_gateway(**BACKLOG_SETTINGS)
    bob = Identity.generate()
    count = BACKLOG if reader is read_recv else BACKLOG // 4
    sent = await store_backlog(gw, bob, count)
    times: list[float] = []
    async with GatewayClient(gw.ws_url, bob, reconnect=False) as client:
        got = await reader(client, count, times)
    check_drained(sent, got, times)
    assert gw.app.parts.metrics.slow_consumers == 0


async def test_an_agent_handler_drains_a_backlog(
    start_gateway: StartGateway,
) -> None:
    """An ``Agent`` handler is called once per stored frame, in each sender's order."""
    gw = start_gateway(**BACKLOG_SETTINGS)
    bob = Identity.generate()
    count = BACKLOG // 4
    sent = await store_backlog(gw, bob, count)
    agent = Agent(bob, reconnect=False)
    got: list[Message] = []
    times: list[float] = []
    done = asyncio.Event()

    @agent.on("INTENT")
    async def take(message: Message) -> None:
        got.append(message)
        times.append(time.monotonic())
        if len(got) == count:
            done.set()

    async with agent.connect(gw.ws_url):
        async with asyncio.timeout(3 * MAX_GAP_S + count / 500):
            await done.wait()
    check_drained(sent, got, times)
    assert gw.app.parts.metrics.slow_consumers == 0
