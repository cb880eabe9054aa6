"""Crashes lose no acknowledged frame: SIGKILL of the gateway, and of Redis, mid-stream.

Agents use recipient acknowledgements (the SDK's default), so ``delivered`` means the
recipient's SDK took the frame in and ``queued`` means the offline store holds it. The
strict guarantee is asserted: every frame ACKed ``delivered`` or ``queued`` reaches the
recipient's user code exactly once, in per-sender order. The in-memory backend loses its
store with the process, so there only ``delivered`` frames are required.

The gateway runs as a child forked from a warm parent (support.fork_gateway), so that it
restarts in about 0.1 s and one test can kill it dozens of times.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from pathlib import Path

import pytest
from support.backends import CRASH_BACKENDS, backend_environment, keeps_stored
from support.fork_gateway import ForkedGateway
from support.redis_server import redis_or_skip
from support.streams import Inbox, Stream, check_stream, missing, wait_until

from aiconexus import GatewayClient, Identity

from .conftest import fast_options

pytestmark = pytest.mark.slow

KILLS = 50
"""SIGKILLs of the gateway per backend."""

DELIVERED = frozenset({"delivered"})
ACKED = frozenset({"delivered", "queued"})


def _param(name: str) -> object:
    return pytest.param(name, marks=pytest.mark.redis) if name == "redis" else name


async def _progress(streams: list[Stream], frames: int, gateway: ForkedGateway) -> None:
    """Wait until ``frames`` more frames got their ACK (the streams are flowing again)."""
    target = sum(s.acked for s in streams) + frames
    try:
        await wait_until(lambda: sum(s.acked for s in streams) >= target, 15, "streams flowing")
    except AssertionError:
        raise AssertionError(f"streams stalled; gateway output:\n{gateway.log()[-3000:]}") from None


async def _settle(pairs: list[tuple[Stream, Inbox, str]], required: frozenset[str]) -> None:
    """Stop the streams; wait until every required frame arrived (or give up after 30 s)."""
    for stream, _, _ in pairs:
        await stream.stop()

    def complete() -> bool:
        return all(
            not missing(stream, inbox.by_sender[sender], required)
            for stream, inbox, sender in pairs
        )

    with contextlib.suppress(AssertionError):  # check_stream then names what is missing
        await wait_until(complete, 30, "every acknowledged frame received")


@pytest.mark.parametrize("backend", [_param(name) for name in CRASH_BACKENDS])
async def test_sigkill_of_the_gateway_loses_no_acknowledged_frame(
    backend: str, tmp_path: Path
) -> None:
    """50 SIGKILLs mid-stream, both directions, online recipients (and offline: durable store).

    alice and bob stream to each other all along; with a backend that keeps its store, alice
    also streams to carol, who is offline for the first half (her frames are queued) and then
    comes online, so later kills also hit the delivery of stored frames.
    """
    durable = keeps_stored(backend)
    required = ACKED if durable else DELIVERED
    rng = random.Random(20261127)
    with backend_environment(backend) as env, ForkedGateway(env(), tmp_path) as gateway:
        await asyncio.to_thread(gateway.start)
        alice, bob, carol = Identity.generate(), Identity.generate(), Identity.generate()
        a = GatewayClient(gateway.ws_url, alice, **fast_options())
        b = GatewayClient(gateway.ws_url, bob, **fast_options())
        c = GatewayClient(gateway.ws_url, carol, **fast_options(retry_on_start=True))
        await a.connect()
        await b.connect()
        at_alice, at_bob = Inbox(a), Inbox(b)
        pairs = [(Stream(a, bob.did), at_bob, alice.did), (Stream(b, alice.did), at_alice, bob.did)]
        if durable:
            pairs.append((Stream(a, carol.did), None, alice.did))  # type: ignore[arg-type]
        streams = [stream for stream, _, _ in pairs]
        for stream in streams:
            stream.start()
        try:
            for kill in range(KILLS):
                if durable and kill == KILLS // 2:
                    await c.connect()
                    pairs[2] = (pairs[2][0], Inbox(c), alice.did)
                await _progress(streams, rng.randint(1, 12), gateway)
                await asyncio.sleep(rng.uniform(0, 0.02))
                await asyncio.to_thread(gateway.kill)
                await asyncio.to_thread(gateway.start)
            await _settle(pairs, required)
            for stream, inbox, sender in pairs:
                check_stream(stream, inbox.by_sender[sender], required)
            if durable:
                assert "queued" in pairs[2][0].statuses.values()
        finally:
            for client in (a, b, c):
                await client.close()


@pytest.mark.redis
async def test_redis_restarts_lose_no_acknowledged_frame(tmp_path: Path) -> None:
    """Redis (append-only, fsync always) SIGKILLed and restarted mid-stream, several times.

    Frames sent while Redis is down are answered INTERNAL_ERROR and sent again by the SDK
    (same id); every frame that was ACKed arrives exactly once and in order, including those
    queued for carol.
    """
    rng = random.Random(7)
    with redis_or_skip(appendonly=True) as redis:
        env = {"STORAGE_TYPE": "redis", "REDIS_URL": redis.url_of(1)}
        with ForkedGateway(env, tmp_path) as gateway:
            await asyncio.to_thread(gateway.start)
            alice, bob, carol = Identity.generate(), Identity.generate(), Identity.generate()
            a = GatewayClient(gateway.ws_url, alice, **fast_options())
            b = GatewayClient(gateway.ws_url, bob, **fast_options())
            c = GatewayClient(gateway.ws_url, carol, **fast_options())
            await a.connect()
            await b.connect()
            at_bob, at_alice = Inbox(b), Inbox(a)
            to_carol = Stream(a, carol.did)
            pairs = [
                (Stream(a, bob.did), at_bob, alice.did),
                (Stream(b, alice.did), at_alice, bob.did),
            ]
            streams = [to_carol, *(stream for stream, _, _ in pairs)]
            for stream in streams:
                stream.start()
            try:
                for _ in range(4):
                    await _progress(streams, rng.randint(5, 20), gateway)
                    await asyncio.to_thread(redis.kill)
                    await asyncio.sleep(rng.uniform(0.05, 0.2))
                    await asyncio.to_thread(redis.start)
                await _progress(streams, 20, gateway)
                await c.connect()
                pairs.append((to_carol, Inbox(c), alice.did))
                await _settle(pairs, ACKED)
                for stream, inbox, sender in pairs:
                    check_stream(stream, inbox.by_sender[sender], ACKED)
                assert "queued" in to_carol.statuses.values()
            finally:
                for client in (a, b, c):
                    await client.close()
