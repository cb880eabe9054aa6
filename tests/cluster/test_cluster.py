"""Several real gateway nodes sharing a real redis-server behave as one gateway."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from support.client import RawClient
from support.gateway import GatewayProcess, gateway_script
from support.redis_server import RedisServer

from aiconexus import GatewayClient
from aiconexus.backoff import Backoff
from aiconexus.protocol import Identity

from .cluster import Cluster, eventually, get_json

pytestmark = [pytest.mark.redis, pytest.mark.slow]

AGENT_FRAMES: list[tuple[str, dict[str, Any]]] = [
    ("OFFER", {"sdp": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"}),
    ("ANSWER", {"sdp": "v=0"}),
    ("ICE_CANDIDATE", {"candidate": "candidate:1 1 UDP 1 127.0.0.1 9 typ host", "sdp_mid": "0"}),
    ("INTENT", {"query": "tradução ✓", "params": {"n": 2**53 - 1}, "extra": [1.5, None]}),
    ("EXEC_REQUEST", {"args": {"x": 1}, "timeout_ms": 1000}),
    ("EXEC_RESPONSE", {"status": "success", "result": {"y": 2}, "execution_time_ms": 3}),
    ("ERROR", {"code": "TIMEOUT", "message": "too slow"}),
    ("PING", {"sequence": 7}),
    ("PONG", {"sequence": 7}),
]


async def send_and_ack(sender: RawClient, to: str, type: str, payload: dict[str, Any]) -> str:
    """Send one frame, expect its ACK; returns the frame text and the ACK status."""
    message = sender.make(type, to, payload)
    text = message.to_json()
    await sender.send_text(text)
    ack = await sender.expect("ACK")
    assert ack.correlation_id == message.id and ack.payload["ids"] == [message.id]
    return f"{ack.payload['status']}:{text}"


async def test_every_message_type_crosses_nodes_byte_for_byte(cluster: Cluster) -> None:
    """Agents on two nodes exchange every agent type; frames arrive unchanged, ACK delivered."""
    n1, n2 = await cluster.add_node(), await cluster.add_node()
    alice = await RawClient.connect(n1.ws_url)
    bob = await RawClient.connect(n2.ws_url)
    assert alice.gateway_did == bob.gateway_did
    for sender, recipient in ((alice, bob), (bob, alice)):
        for type, payload in AGENT_FRAMES:
            status, _, text = (await send_and_ack(sender, recipient.did, type, payload)).partition(
                ":"
            )
            assert status == "delivered"
            assert await recipient.recv_text() == text


async def test_per_pair_order_across_nodes(cluster: Cluster) -> None:
    """Frames sent back to back to an agent on another node arrive in the order sent."""
    n1, n2 = await cluster.add_node(), await cluster.add_node()
    alice = await RawClient.connect(n1.ws_url)
    bob = await RawClient.connect(n2.ws_url)
    texts = [alice.make("INTENT", bob.did, {"params": {"seq": i}}).to_json() for i in range(300)]
    for text in texts:
        await alice.send_text(text)
    received = [await bob.recv_text() for _ in texts]
    assert received == texts
    acks = [await alice.expect("ACK") for _ in texts]
    assert {ack.payload["status"] for ack in acks} == {"delivered"}


async def test_agents_listing_agrees_on_every_node(cluster: Cluster) -> None:
    """GET /agents lists the whole cluster, with capabilities and metadata, on each node."""
    nodes = [await cluster.add_node() for _ in range(3)]
    clients = [
        await RawClient.connect(node.ws_url, capabilities=[f"cap{i}", "shared"], metadata={"i": i})
        for i, node in enumerate(nodes)
    ]
    everyone = {client.did for client in clients}
    for node in nodes:
        status, body = await get_json(node, "/agents")
        assert status == 200 and body["count"] == 3
        assert {agent["did"] for agent in body["agents"]} == everyone
        for agent in body["agents"]:
            i = agent["metadata"]["i"]
            assert agent["did"] == clients[i].did
            assert agent["capabilities"] == [f"cap{i}", "shared"]
        _, only = await get_json(node, "/agents", capability="cap1")
        assert [agent["did"] for agent in only["agents"]] == [clients[1].did]
        _, shared = await get_json(node, "/agents", capability="shared")
        assert shared["count"] == 3
    leaving = clients[0]
    assert leaving.gateway_did is not None
    await leaving.send_message("UNREGISTER", leaving.gateway_did, {"reason": "done"})
    await leaving.closed()

    async def everyone_sees_two() -> bool:
        return await cluster.agent_sets() == [everyone - {leaving.did}] * 3

    await eventually(everyone_sees_two, what="the agent that left is gone everywhere")


async def test_offline_store_survives_node_restarts(cluster: Cluster) -> None:
    """Frames stored through node 1 reach the recipient on node 2 after both restarted."""
    n1, n2 = await cluster.add_node(), await cluster.add_node()
    alice = await RawClient.connect(n1.ws_url)
    bob_identity = Identity.generate()
    texts = []
    for i in range(3):
        status, _, text = (
            await send_and_ack(alice, bob_identity.did, "INTENT", {"params": {"seq": i}})
        ).partition(":")
        assert status == "queued"
        texts.append(text)
    await alice.close()
    await cluster.restart(n1)
    await cluster.restart(n2)
    bob = await RawClient.connect(n2.ws_url, bob_identity)
    assert bob.registered is not None and bob.registered.payload["queued"] == 3
    assert [await bob.recv_text() for _ in texts] == texts


async def test_reconnect_on_another_node_replaces_the_session(cluster: Cluster) -> None:
    """A REGISTER on node 2 closes the same agent's session on node 1 with 4000."""
    n1, n2 = await cluster.add_node(), await cluster.add_node()
    identity = Identity.generate()
    old = await RawClient.connect(n1.ws_url, identity)
    alice = await RawClient.connect(n1.ws_url)
    new = await RawClient.connect(n2.ws_url, identity)
    assert await old.closed() == 4000
    status, _, text = (
        await send_and_ack(alice, identity.did, "OFFER", {"sdp": "after replace"})
    ).partition(":")
    assert status == "delivered"
    assert await new.recv_text() == text
    for listing in await cluster.agent_sets():
        assert listing == {identity.did, alice.did}


async def test_gateway_recovers_when_redis_restarts(cluster: Cluster) -> None:
    """Redis down: 503 and INTERNAL_ERROR; Redis back: healthy and routing, no reconnects."""
    n1, n2 = await cluster.add_node(), await cluster.add_node()
    alice = await RawClient.connect(n1.ws_url)
    bob = await RawClient.connect(n2.ws_url)
    cluster.redis.stop()
    try:

        async def both_unavailable() -> bool:
            return [(await get_json(node, "/health"))[0] for node in (n1, n2)] == [503, 503]

        await eventually(both_unavailable, what="/health 503 while Redis is down")
        _, body = await get_json(n1, "/health")
        assert body["status"] == "unavailable"
        sent = await alice.send_message("OFFER", bob.did, {"sdp": "while down"})
        error = await alice.expect_error("INTERNAL_ERROR", sent.id)
        assert "unavailable" in error.payload["message"]
    finally:
        cluster.redis.start()

    async def both_healthy() -> bool:
        return [(await get_json(node, "/health"))[0] for node in (n1, n2)] == [200, 200]

    await eventually(both_healthy, what="/health 200 after Redis returned")
    await eventually(
        lambda: _lists(cluster, {alice.did, bob.did}), what="sessions re-announced to Redis"
    )
    status, _, text = (await send_and_ack(alice, bob.did, "OFFER", {"sdp": "back"})).partition(":")
    assert status == "delivered"
    assert await bob.recv_text() == text


async def _lists(cluster: Cluster, dids: set[str]) -> bool:
    return all(listing == dids for listing in await cluster.agent_sets())


async def test_killed_node_loses_no_acknowledged_message(cluster: Cluster) -> None:
    """SIGKILL of the senders' node: they fail over, every message arrives once, no ghost."""
    n1, n2 = await cluster.add_node(), await cluster.add_node()
    pairs, count = 4, 120
    receivers = [await RawClient.connect(n2.ws_url) for _ in range(pairs)]
    ghost = await RawClient.connect(n1.ws_url)  # never reconnects
    fast = Backoff(initial_delay=0.05, factor=2.0, max_delay=0.5, jitter=0.0)
    senders = [
        GatewayClient([n1.ws_url, n2.ws_url], Identity.generate(), backoff=fast)
        for _ in range(pairs)
    ]
    for sender in senders:
        await sender.connect()
    acked = [0] * pairs

    async def stream(index: int) -> None:
        sender, to = senders[index], receivers[index].did
        window = asyncio.Semaphore(8)

        async def one(seq: int) -> None:
            async with window:
                await sender.send(to, "INTENT", {"params": {"seq": seq}}, timeout=30)
                acked[index] += 1

        await asyncio.gather(*(one(seq) for seq in range(count)))
        await sender.send(to, "INTENT", {"status": "end"}, timeout=30)

    async def collect(receiver: RawClient) -> list[int]:
        seqs: list[int] = []
        while True:
            message = await receiver.recv(within=30)
            if message.payload.get("status") == "end":
                return seqs
            seqs.append(message.payload["params"]["seq"])

    collectors = [asyncio.create_task(collect(receiver)) for receiver in receivers]
    streams = [asyncio.create_task(stream(i)) for i in range(pairs)]
    try:
        await eventually(lambda: min(acked) >= count // 4, what="streams flowing")
        await cluster.kill(n1)
        await asyncio.wait_for(asyncio.gather(*streams), timeout=60)
        results = await asyncio.wait_for(asyncio.gather(*collectors), timeout=30)
    finally:
        for task in (*streams, *collectors):
            task.cancel()
        for sender in senders:
            await sender.close()
    for seqs in results:
        duplicates = [seq for seq, n in Counter(seqs).items() if n > 1]
        assert not duplicates, f"delivered twice: {duplicates}"
        assert sorted(seqs) == list(range(count))
    assert all(sender.unacknowledged == 0 for sender in senders)

    async def ghost_gone() -> bool:
        _, body = await get_json(n2, "/agents")
        return ghost.did not in {agent["did"] for agent in body["agents"]}

    await eventually(ghost_gone, within=5, what="agents of the killed node leave presence")
    status, _, _ = (
        await send_and_ack(receivers[0], ghost.did, "OFFER", {"sdp": "for the ghost"})
    ).partition(":")
    assert status == "queued"


async def test_several_workers_share_redis(cluster: Cluster) -> None:
    """GATEWAY_WORKERS=2 with Redis: two nodes behind one port route between themselves."""
    node = GatewayProcess(
        {**cluster.env, "GATEWAY_WORKERS": "2"}, cluster.workdir / "workers", args=()
    )
    cluster.nodes.append(node)
    await asyncio.to_thread(node.start)
    node_ids: set[str] = set()
    for _ in range(200):
        if len(node_ids) > 1:
            break
        status, body = await get_json(node, "/health")
        if status == 200:
            node_ids.add(body["node_id"])
    assert len(node_ids) == 2, f"one worker answered every request: {node_ids}"
    clients = [await RawClient.connect(node.ws_url) for _ in range(6)]
    for sender in clients:
        for recipient in clients:
            if recipient is not sender:
                outcome, _, text = (
                    await send_and_ack(sender, recipient.did, "PING", {"sequence": 1})
                ).partition(":")
                assert outcome == "delivered"
                assert await recipient.recv_text() == text
    _, body = await get_json(node, "/agents")
    assert body["count"] == 6


def test_workers_need_redis(tmp_path: Path) -> None:
    """Start-up refuses GATEWAY_WORKERS > 1 with the memory backend (exit code 2)."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "STORAGE_"))},
        "STORAGE_TYPE": "memory",
        "GATEWAY_WORKERS": "2",
        "GATEWAY_KEY_FILE": str(tmp_path / "gateway.key"),
    }
    done = subprocess.run(
        [gateway_script()], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 2
    assert "GATEWAY_WORKERS" in done.stderr and "STORAGE_TYPE=redis" in done.stderr


async def test_node_started_before_redis_waits_for_it(tmp_path: Path) -> None:
    """A node started while Redis is down answers 503, then serves once Redis is up."""
    redis = RedisServer()  # not started yet
    group = Cluster(redis, 0, tmp_path)
    try:
        node = await group.add_node()
        status, body = await get_json(node, "/health")
        assert status == 503 and body["status"] == "unavailable"
        await asyncio.to_thread(redis.start)

        async def healthy() -> bool:
            return (await get_json(node, "/health"))[0] == 200

        await eventually(healthy, what="/health 200 once Redis is up")
        alice = await RawClient.connect(node.ws_url)
        bob = await RawClient.connect(node.ws_url)
        outcome, _, text = (await send_and_ack(alice, bob.did, "OFFER", {"sdp": "x"})).partition(
            ":"
        )
        assert outcome == "delivered"
        assert await bob.recv_text() == text
    finally:
        group.stop()
        redis.close()


async def test_frames_for_agents_of_a_killed_node_are_kept(cluster: Cluster) -> None:
    """SIGKILL of the receivers' node: frames sent from then on reach them on the other node."""
    n1, n2 = await cluster.add_node(), await cluster.add_node()
    fast = Backoff(initial_delay=0.05, factor=2.0, max_delay=0.5, jitter=0.0)
    receivers = [
        GatewayClient([n1.ws_url, n2.ws_url], Identity.generate(), backoff=fast) for _ in range(3)
    ]
    for receiver in receivers:
        await receiver.connect()
    senders = [await RawClient.connect(n2.ws_url) for _ in receivers]
    try:
        await cluster.kill(n1)
        count = 50
        for seq in range(count):
            for sender, receiver in zip(senders, receivers, strict=True):
                await sender.send_message("INTENT", receiver.did, {"params": {"seq": seq}})
                ack = await sender.expect("ACK")
                assert ack.payload["status"] in ("delivered", "queued")
        for receiver in receivers:
            got: list[int] = []
            while len(got) < count:
                message = await asyncio.wait_for(receiver.recv(), timeout=20)
                got.append(message.payload["params"]["seq"])
            assert got == list(range(count))
    finally:
        for receiver in receivers:
            await receiver.close()
