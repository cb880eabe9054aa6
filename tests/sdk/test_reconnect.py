"""Reconnection without loss: gateway crash and restart, failover, heartbeat, resending."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
from support.gateway import Gateway, GatewayProcess
from support.ports import free_port
from support.starter import StartGatewayProcess

from aiconexus import ConnectionState, GatewayClient, Identity, MessageType

from .conftest import fast_options

STREAM_LENGTH = 300
IN_FLIGHT = 16


async def _stream(
    client: GatewayClient, to: str, generation: list[int], acked: dict[int, tuple[str, int]]
) -> None:
    """Send 0..STREAM_LENGTH-1 to ``to`` with up to IN_FLIGHT frames awaiting their ACK.

    ``acked[n]`` records the ACK status and the session generation that acknowledged it.
    """
    window = asyncio.Semaphore(IN_FLIGHT)

    async def one(n: int) -> None:
        try:
            status = await client.send(
                to, MessageType.INTENT, {"task": "count", "params": {"n": n}}
            )
            acked[n] = (status, generation[0])
        finally:
            window.release()

    tasks = []
    for n in range(STREAM_LENGTH):
        await window.acquire()
        tasks.append(asyncio.create_task(one(n)))
    await asyncio.gather(*tasks)


async def _collect(
    client: GatewayClient, sender: str, into: list[int], third: asyncio.Event, last: asyncio.Event
) -> None:
    async for message in client:
        if message.from_ == sender and message.type == MessageType.INTENT:
            into.append(message.payload["params"]["n"])
            if len(into) >= STREAM_LENGTH // 3:
                third.set()
            if into[-1] == STREAM_LENGTH - 1:
                last.set()


def _check_stream(received: list[int], acked: dict[int, tuple[str, int]]) -> None:
    """Exactly once, in order, nothing lost but what the crashed in-memory store held.

    Only a frame the crashed gateway ACKed ``queued`` (stored in its memory) may be missing;
    every frame ACKed ``delivered`` reached user code (recipient acknowledgements).
    """
    assert len(received) == len(set(received)), "a frame reached user code twice"
    assert received == sorted(received), "frames of one sender arrived out of order"
    assert sorted(acked) == list(range(STREAM_LENGTH)), "every send was acknowledged"
    missing = set(range(STREAM_LENGTH)) - set(received)
    stored_by_crashed = {n for n, (status, gen) in acked.items() if (status, gen) == ("queued", 1)}
    assert missing <= stored_by_crashed, f"ACKed but lost: {sorted(missing - stored_by_crashed)}"


@pytest.mark.slow
async def test_sigkill_and_restart_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    """Two agents stream numbered frames through a gateway that is SIGKILLed and restarted.

    The SDK's guarantees are checked: no duplicates, order per sender, every frame ACKed
    ``delivered`` received, every frame not acknowledged re-sent and received (test_crash
    does the same over 50 kills and every durable backend).
    """
    gateway = GatewayProcess({"STORAGE_TYPE": "memory"}, tmp_path)
    gateway.start()
    try:
        alice, bob = Identity.generate(), Identity.generate()
        states: list[ConnectionState] = []
        generation = [0]

        def watch(state: ConnectionState) -> None:
            states.append(state)
            if state is ConnectionState.CONNECTED:
                generation[0] += 1

        async with (
            GatewayClient(gateway.ws_url, alice, **fast_options(on_state_change=watch)) as a,
            GatewayClient(gateway.ws_url, bob, **fast_options()) as b,
        ):
            at_bob: list[int] = []
            at_alice: list[int] = []
            acked_by_alice: dict[int, tuple[str, int]] = {}
            acked_by_bob: dict[int, tuple[str, int]] = {}
            third, ignored, last_at_bob, last_at_alice = (asyncio.Event() for _ in range(4))
            collectors = [
                asyncio.create_task(_collect(b, alice.did, at_bob, third, last_at_bob)),
                asyncio.create_task(_collect(a, bob.did, at_alice, ignored, last_at_alice)),
            ]
            streams = [
                asyncio.create_task(_stream(a, bob.did, generation, acked_by_alice)),
                asyncio.create_task(_stream(b, alice.did, generation, acked_by_bob)),
            ]
            async with asyncio.timeout(30):
                await third.wait()
                gateway.kill()
                before_crash = len(acked_by_alice)
                await asyncio.sleep(0.3)
                gateway.start()
                await asyncio.gather(*streams)
                # Everything sent is acknowledged; the last frame of each stream arrives last.
                await last_at_bob.wait()
                await last_at_alice.wait()
            for collector in collectors:
                collector.cancel()
            assert a.gateway_did == gateway.did
        _check_stream(at_bob, acked_by_alice)
        _check_stream(at_alice, acked_by_bob)
        assert before_crash < STREAM_LENGTH, "the crash happened mid-stream"
        assert generation[0] == 2 and ConnectionState.RECONNECTING in states
        assert states[-1] is ConnectionState.CLOSED
    finally:
        gateway.stop()


async def test_first_reachable_url_is_used(gateway: Gateway) -> None:
    """A dead URL first in the list is skipped."""
    dead = f"ws://127.0.0.1:{free_port()}/ws"
    async with GatewayClient([dead, gateway.ws_url], Identity.generate(), **fast_options()) as c:
        assert c.url == gateway.ws_url
        assert await c.ping(timeout=5) > 0


async def test_failover_to_the_next_gateway_when_one_goes_down(
    start_memory_gateway_process: StartGatewayProcess,
) -> None:
    """When the current gateway stops, the client moves to the next URL and keeps sending."""
    first, second = start_memory_gateway_process(), start_memory_gateway_process()
    urls = [first.ws_url, second.ws_url]
    alice, bob = Identity.generate(), Identity.generate()
    states: list[ConnectionState] = []
    reconnected = asyncio.Event()

    def watch(state: ConnectionState) -> None:
        states.append(state)
        if state is ConnectionState.CONNECTED and ConnectionState.RECONNECTING in states:
            reconnected.set()

    async with (
        GatewayClient(urls, alice, **fast_options(on_state_change=watch)) as a,
        GatewayClient(second.ws_url, bob, **fast_options()) as b,
    ):
        assert a.url == first.ws_url
        first.kill()
        async with asyncio.timeout(10):
            await reconnected.wait()
        assert a.url == second.ws_url
        assert await a.send(bob.did, "OFFER", {"sdp": "after failover"}) == "delivered"
        async with asyncio.timeout(5):
            assert (await b.recv()).payload["sdp"] == "after failover"
    assert states[:4] == [
        ConnectionState.CONNECTING,
        ConnectionState.CONNECTED,
        ConnectionState.RECONNECTING,
        ConnectionState.CONNECTED,
    ]


async def test_heartbeat_detects_a_frozen_gateway(
    start_memory_gateway_process: StartGatewayProcess,
) -> None:
    """A gateway that stops answering (SIGSTOP) is detected by the PING heartbeat."""
    gateway = start_memory_gateway_process()
    assert gateway.process is not None
    pid = gateway.process.pid
    reconnecting, reconnected = asyncio.Event(), asyncio.Event()

    def watch(state: ConnectionState) -> None:
        if state is ConnectionState.RECONNECTING:
            reconnecting.set()
        elif state is ConnectionState.CONNECTED and reconnecting.is_set():
            reconnected.set()

    options = fast_options(heartbeat_interval_s=0.3, ws_ping_interval_s=None, on_state_change=watch)
    async with GatewayClient(gateway.ws_url, Identity.generate(), **options) as client:
        os.kill(pid, signal.SIGSTOP)
        try:
            async with asyncio.timeout(5):
                await reconnecting.wait()
        finally:
            os.kill(pid, signal.SIGCONT)
        async with asyncio.timeout(10):
            await reconnected.wait()
        assert await client.ping(timeout=5) > 0


async def test_frames_older_than_the_skew_are_resigned_on_resend(tmp_path: Path) -> None:
    """A frame that waited through an outage longer than the skew is re-signed, not refused."""
    gateway = GatewayProcess({"STORAGE_TYPE": "memory", "CLOCK_SKEW": "2"}, tmp_path)
    gateway.start()
    try:
        alice, bob = Identity.generate(), Identity.generate()
        options = fast_options(clock_skew_s=2.0)
        async with GatewayClient(gateway.ws_url, alice, **options) as a:
            gateway.kill()
            sending = asyncio.create_task(a.send(bob.did, "OFFER", {"sdp": "patient"}))
            await asyncio.sleep(2.5)
            assert not sending.done()
            gateway.start()
            async with asyncio.timeout(10):
                assert await sending == "queued"
        async with GatewayClient(gateway.ws_url, bob, **options) as b, asyncio.timeout(5):
            message = await b.recv()
        assert message.payload == {"sdp": "patient"}
        assert message.from_ == alice.did
    finally:
        gateway.stop()
