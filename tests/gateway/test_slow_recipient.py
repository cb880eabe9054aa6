"""A recipient that drips acknowledgements holds bounded memory, for a bounded time.

The recipient reads everything and acknowledges it now and then, except the first frame:
before, each ACK counted as progress, so such a recipient held its oldest frame (and, with
large frames, its full window and send queue) for as long as it went on, and the senders
of what it held got no answer.
"""

from __future__ import annotations

import asyncio
import contextlib

from support.client import RawClient
from support.starter import StartGateway
from websockets.exceptions import ConnectionClosed

from aiconexus.protocol import Identity, Message

from .test_recipient_acks import acking_client, acknowledge

DRIP_S = 0.3
"""The dripping recipient acknowledges one frame this often (far below ACK_TIMEOUT)."""


async def drip(client: RawClient) -> list[str]:
    """Read every frame; every DRIP_S acknowledge those read since, except the very first.

    Returns the ids read, once the gateway closed the connection.
    """
    read: list[str] = []

    async def acknowledge_now_and_then() -> None:
        acked = 1  # the first frame read is never acknowledged
        while True:
            await asyncio.sleep(DRIP_S)
            fresh, acked = read[acked:], max(acked, len(read))
            if fresh:
                await acknowledge(client, *fresh)

    acking = asyncio.create_task(acknowledge_now_and_then())
    try:
        with contextlib.suppress(ConnectionClosed, TimeoutError):
            while True:
                read.append(Message.parse(await client.recv_text(within=30)).id)
    finally:
        acking.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
            await acking
    return read


async def test_a_dripping_recipient_is_a_slow_consumer_after_ack_timeout(
    start_gateway: StartGateway,
) -> None:
    """Its oldest frame unacknowledged for ACK_TIMEOUT: closed 1013, the rest ``queued``."""
    gw = start_gateway(inflight_window=8, ack_timeout=1.5, rate_limit_frames_per_s=0)
    alice = await RawClient.connect(gw.ws_url)
    bob = await acking_client(gw.ws_url)
    reading = asyncio.create_task(drip(bob))
    sent: list[Message] = []
    async with asyncio.timeout(10):  # a steady stream, acknowledged now and then, until closed
        while not reading.done():
            sent.append(await alice.send_message("INTENT", bob.did, {"query": f"q{len(sent)}"}))
            await asyncio.sleep(DRIP_S / 4)
    acks = await alice.expect_acks(len(sent), within=10)
    assert bob.close_code == 1013
    assert acks[sent[0].id] == "queued"
    gw.wait_for_log(f"disconnected reason='slow consumer' did={bob.did}")


async def test_many_senders_of_large_frames_hold_bounded_bytes(
    start_gateway: StartGateway,
) -> None:
    """40 senders of 200 kB frames to a dripping recipient: bytes held stay under the bounds.

    Every sender gets its answer (``delivered`` or ``queued``) within seconds, and the
    gateway's own count of queued and in-flight bytes never passed the per-session bounds.
    """
    window = queue = 1 << 20
    gw = start_gateway(
        inflight_window_bytes=window,
        send_queue_bytes=queue,
        ack_timeout=2,
        rate_limit_bytes_per_s=0,
    )
    bob = await acking_client(gw.ws_url, Identity.generate())
    reading = asyncio.create_task(drip(bob))
    blob = "x" * 200_000
    senders = [await RawClient.connect(gw.ws_url) for _ in range(40)]

    async def send(sender: RawClient) -> dict[str, str]:
        sent = [await sender.send_message("OFFER", bob.did, {"sdp": blob}) for _ in range(3)]
        acks = await sender.expect_acks(len(sent), within=15)
        assert set(acks) == {m.id for m in sent}
        return acks

    answers = await asyncio.gather(*(send(s) for s in senders))
    statuses = {status for acks in answers for status in acks.values()}
    assert statuses <= {"delivered", "queued"} and "queued" in statuses
    await asyncio.wait_for(reading, 10)
    budget = gw.app.parts.budget
    assert budget.peak <= window + queue + 2 * (len(blob) + 1000), budget.peak
    assert budget.used == 0
