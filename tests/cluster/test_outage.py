"""A Redis outage in the middle of a stream strands nothing and delivers nothing twice.

Two nodes share a real redis-server (append-only, so a restart keeps the store). A sender on
node 1 streams to a recipient with recipient acknowledgements on node 2 (so every frame goes
through the store and is held there until acknowledged) while Redis is stopped (SIGSTOP) for
10 s, or restarted. The sender follows PROTOCOL.md 8.2: a frame answered INTERNAL_ERROR has
an unknown outcome and is sent again, same id; REPLAY_DETECTED to such a copy means the
first one was taken. Strict count: every frame acknowledged to the sender reaches the
recipient exactly once, in its session, and its next session gets none of them again.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.client import RawClient
from support.redis_server import RedisServer, redis_or_skip
from websockets.exceptions import ConnectionClosed

from aiconexus.protocol import Identity, Message

from .cluster import Cluster, eventually

pytestmark = pytest.mark.redis

STOPPED_S = 10.0
RESEND_S = 0.5
"""A sender's pause before it sends again a frame answered INTERNAL_ERROR."""


@pytest.fixture
def durable_redis() -> Iterator[RedisServer]:
    """A redis-server of this test alone, with its append-only file (a restart keeps data)."""
    with redis_or_skip(appendonly=True) as server:
        yield server


class Sender:
    """A raw client that streams frames and re-sends those answered INTERNAL_ERROR."""

    def __init__(self, client: RawClient, recipient: str) -> None:
        self.client = client
        self.recipient = recipient
        self.unanswered: dict[str, Message] = {}
        self.taken: set[str] = set()
        self.resent: set[str] = set()
        self.internal_errors = 0
        self._sends: set[asyncio.Task[None]] = set()

    async def send(self, n: int) -> None:
        message = self.client.make("INTENT", self.recipient, {"query": f"q{n}"})
        self.unanswered[message.id] = message
        await self.client.send_text(message.to_json())

    async def read_answers(self) -> None:
        while True:
            answer = await self.client.recv(within=60)
            if answer.type == "ACK":
                for message_id in answer.payload["ids"]:
                    self.took(message_id)
                continue
            assert answer.type == "ERROR", answer
            code, message_id = answer.payload["code"], answer.correlation_id
            assert message_id is not None
            if code == "REPLAY_DETECTED" and message_id in self.resent:
                self.took(message_id)  # the first copy was taken after all
            elif code == "INTERNAL_ERROR":
                self.internal_errors += 1
                self.resent.add(message_id)
                asyncio.get_running_loop().call_later(RESEND_S, self._resend, message_id)
            else:
                raise AssertionError(f"unexpected answer {answer.payload}")

    def took(self, message_id: str) -> None:
        assert message_id not in self.taken, f"{message_id} answered twice"
        self.taken.add(message_id)
        self.unanswered.pop(message_id, None)

    def _resend(self, message_id: str) -> None:
        message = self.unanswered.get(message_id)
        if message is not None:
            task = asyncio.ensure_future(self.client.send_text(message.to_json()))
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)


async def acking_client(url: str, identity: Identity) -> RawClient:
    """A raw client with recipient acknowledgements."""
    client = await RawClient.open(url, identity)
    await client.read_challenge()
    await client.register(recipient_acks=True)
    client.registered = await client.expect("REGISTERED")
    return client


async def receive_all(client: RawClient, received: list[str]) -> None:
    """Read frames and acknowledge each at once; their ids go to ``received``."""
    assert client.gateway_did is not None
    with contextlib.suppress(ConnectionClosed):
        while True:
            message = Message.parse(await client.recv_text(within=120))
            if message.type in ("ACK", "ERROR", "PONG"):
                continue
            received.append(message.id)
            await client.send_message(
                "ACK", client.gateway_did, {"status": "received", "ids": [message.id]}
            )


@pytest.mark.parametrize("outage", ["stop", "restart"])
async def test_redis_outage_strands_nothing(
    durable_redis: RedisServer, tmp_path: Path, outage: str
) -> None:
    """Every frame taken (ACK, or REPLAY to a re-sent copy) is received once; none again."""
    cluster = Cluster(durable_redis, 1, tmp_path)
    try:
        n1 = await cluster.add_node()
        n2 = await cluster.add_node()
        bob = Identity.generate()
        receiver = await acking_client(n2.ws_url, bob)
        received: list[str] = []
        receiving = asyncio.create_task(receive_all(receiver, received))
        sender = Sender(await RawClient.connect(n1.ws_url), bob.did)
        answering = asyncio.create_task(sender.read_answers())
        sent = 0

        async def stream(seconds: float) -> None:
            nonlocal sent
            for _ in range(int(seconds / 0.05)):
                await sender.send(sent)
                sent += 1
                await asyncio.sleep(0.05)

        await stream(1.0)
        assert durable_redis._process is not None
        if outage == "stop":
            durable_redis._process.send_signal(signal.SIGSTOP)
            try:
                await stream(STOPPED_S)
            finally:
                durable_redis._process.send_signal(signal.SIGCONT)
        else:
            await asyncio.to_thread(durable_redis.restart)
        await stream(2.0)
        await eventually(lambda: not sender.unanswered, 60, "every frame answered")
        await eventually(lambda: set(received) >= sender.taken, 60, "every frame received")
        assert len(received) == len(set(received)), "a frame was received twice"
        assert set(received) == sender.taken
        assert len(sender.taken) == sent
        if outage == "stop":
            assert sender.internal_errors > 0  # the outage was felt
        # Everything was acknowledged: the recipient's next session gets none of it again.
        await asyncio.sleep(1.0)  # acknowledgements recorded (retried while Redis was away)
        await receiver.close()
        receiving.cancel()
        answering.cancel()
        again = await acking_client(n1.ws_url, bob)
        assert again.registered is not None
        assert again.registered.payload["queued"] == 0, cluster.logs()
    finally:
        cluster.stop()
