"""Node crashes in a cluster lose no acknowledged frame (recipient acknowledgements).

Two nodes share one Redis; alice prefers node 1 and bob node 2, so their frames cross nodes:
to a recipient with recipient acknowledgements that goes through the recipient's store
(ACK ``queued``), and the frame stays there until the recipient acknowledged it. Nodes are
SIGKILLed in turn mid-stream (each restarted at once, a child forked from a warm parent);
every frame ACKed ``delivered`` or ``queued`` must reach user code exactly once, in order.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest
from support.fork_gateway import ForkedGateway
from support.redis_server import RedisServer
from support.streams import Inbox, Stream, check_stream, missing, wait_until

from aiconexus import GatewayClient, Identity
from aiconexus.backoff import Backoff

from .cluster import PRESENCE_TTL_S

pytestmark = [pytest.mark.redis, pytest.mark.slow]

KILLS = 12
ACKED = frozenset({"delivered", "queued"})
FAST = Backoff(initial_delay=0.05, factor=2.0, max_delay=0.3, jitter=0.5)


async def test_node_sigkills_lose_no_acknowledged_frame(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """Alternate SIGKILLs of both nodes while alice and bob stream to each other across them."""
    if not redis_server.running:
        redis_server.start()
    env = {
        "STORAGE_TYPE": "redis",
        "REDIS_URL": redis_server.url_of(900),
        "PRESENCE_TTL": str(PRESENCE_TTL_S),
        "CLEANUP_INTERVAL": "1",
        "GATEWAY_KEY_FILE": str(tmp_path / "gateway.key"),
    }
    rng = random.Random(5)
    with (
        ForkedGateway({**env, "NODE_ID": "n1"}, tmp_path / "n1") as n1,
        ForkedGateway({**env, "NODE_ID": "n2"}, tmp_path / "n2") as n2,
    ):
        await asyncio.to_thread(n1.start)
        await asyncio.to_thread(n2.start)
        alice, bob = Identity.generate(), Identity.generate()
        a = GatewayClient([n1.ws_url, n2.ws_url], alice, backoff=FAST, open_timeout_s=5)
        b = GatewayClient([n2.ws_url, n1.ws_url], bob, backoff=FAST, open_timeout_s=5)
        await a.connect()
        await b.connect()
        pairs = [
            (Stream(a, bob.did), Inbox(b), alice.did),
            (Stream(b, alice.did), Inbox(a), bob.did),
        ]
        streams = [stream for stream, _, _ in pairs]
        for stream in streams:
            stream.start()
        try:
            for kill in range(KILLS):
                node = (n1, n2)[kill % 2]
                target = sum(s.acked for s in streams) + rng.randint(3, 15)
                await wait_until(
                    lambda t=target: sum(s.acked for s in streams) >= t, 20, "streams flowing"
                )
                await asyncio.to_thread(node.kill)
                await asyncio.sleep(rng.uniform(0, 0.2))
                await asyncio.to_thread(node.start)
            for stream in streams:
                await stream.stop()
            await wait_until(
                lambda: all(not missing(s, i.by_sender[d], ACKED) for s, i, d in pairs),
                30,
                "every acknowledged frame received",
            )
            for stream, inbox, sender in pairs:
                check_stream(stream, inbox.by_sender[sender], ACKED)
        finally:
            for client in (a, b):
                await client.close()
