"""SDK clients through a Redis outage: every send acknowledged is received exactly once.

Two nodes share a real redis-server (append-only, so a restart keeps the store). A
``GatewayClient`` on node 1 streams numbered frames, each send with its own timeout, to a
``GatewayClient`` on node 2 that loads its identity from a key file (so its duplicate memory
is the file beside the key). Redis is stopped (SIGSTOP) for 10 s; halfway through, the
receiving client is closed and a new one made from the same key file connects to node 1,
as a restarted receiving process would; then Redis is restarted. Strict count: every send
ends with an ACK (frames answered INTERNAL_ERROR are sent again by the SDK under their id),
none waits past its timeout, each acknowledged frame reaches user code exactly once and in
order across both clients, and the identity's next session gets none of them again.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.redis_server import RedisServer, redis_or_skip
from support.streams import Inbox, Stream, check_stream, missing

from aiconexus import Backoff, GatewayClient, Identity

from .cluster import Cluster, eventually
from .test_outage import acking_client

pytestmark = pytest.mark.redis

STOPPED_S = 10.0
SEND_TIMEOUT_S = 30.0
"""Each send's own timeout: longer than the outage, so every send must end with an ACK."""
ACKED = frozenset({"delivered", "queued"})
QUICK = Backoff(initial_delay=0.05, factor=2.0, max_delay=0.5, jitter=0.5)


@pytest.fixture
def durable_redis() -> Iterator[RedisServer]:
    """A redis-server of this test alone, with its append-only file (a restart keeps data)."""
    with redis_or_skip(appendonly=True) as server:
        yield server


def client(url: str, identity: Identity) -> GatewayClient:
    """An SDK client that reconnects quickly, also when its first REGISTER is refused."""
    return GatewayClient(url, identity, backoff=QUICK, retry_on_start=True, open_timeout_s=5.0)


async def test_sdk_clients_lose_and_repeat_nothing_through_a_redis_outage(
    durable_redis: RedisServer, tmp_path: Path
) -> None:
    """SIGSTOP 10 s with a receiver restart inside, then a Redis restart: strict count."""
    cluster = Cluster(durable_redis, 1, tmp_path)
    key_file = tmp_path / "bob.key"
    Identity.generate().save(key_file)
    redis = durable_redis._process
    try:
        n1 = await cluster.add_node()
        n2 = await cluster.add_node()
        alice = Identity.generate()
        first = client(n2.ws_url, Identity.load(key_file))
        await first.connect()
        bob = first.did
        received_first = Inbox(first)
        sender = client(n1.ws_url, alice)
        await sender.connect()
        stream = Stream(sender, bob, timeout=SEND_TIMEOUT_S)
        stream.start()
        await eventually(lambda: stream.acked >= 20, 10, "the stream flows")

        assert redis is not None
        redis.send_signal(signal.SIGSTOP)
        stopped_at = time.monotonic()
        try:
            await asyncio.sleep(STOPPED_S / 2)
            await first.close()  # the receiving process ends ...
            second = client(n1.ws_url, Identity.load(key_file))  # ... and starts again
            connecting = asyncio.create_task(second.connect())
            await asyncio.sleep(STOPPED_S - (time.monotonic() - stopped_at))
        finally:
            redis.send_signal(signal.SIGCONT)
        await asyncio.wait_for(connecting, 30)
        received_second = Inbox(second)
        acked = stream.acked
        await eventually(lambda: stream.acked >= acked + 20, 30, "the stream flows again")

        await asyncio.to_thread(durable_redis.restart)
        acked = stream.acked
        await eventually(lambda: stream.acked >= acked + 20, 30, "the stream flows again")
        await stream.stop()

        def received() -> list[int]:
            return received_first.by_sender[alice.did] + received_second.by_sender[alice.did]

        await eventually(lambda: not missing(stream, received(), ACKED), 30, "all received")
        assert not stream.failed, f"sends that did not end with an ACK: {stream.failed}"
        assert stream.longest <= SEND_TIMEOUT_S + 1.0
        check_stream(stream, received(), ACKED)
        assert len(received()) == stream.sent

        # The next process with this key: whatever the gateway still holds for it, its user
        # code gets none of these frames again (the duplicate memory file drops copies).
        await second.close()
        received_first.stop()
        received_second.stop()
        third = client(n2.ws_url, Identity.load(key_file))
        await third.connect()
        received_third = Inbox(third)
        again = await acking_client(n1.ws_url, Identity.generate())
        await again.close()  # a round trip through the gateway, then a little time for frames
        await third.ping()
        await asyncio.sleep(1.0)
        await third.close()
        received_third.stop()
        assert received_third.by_sender[alice.did] == []
    finally:
        cluster.stop()
