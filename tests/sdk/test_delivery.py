"""Received frames are acknowledged only once something took them, and taken once.

Real gateways, the real CLI: a command that stops after N frames acknowledges those N and
no other; frames wait in the client for a handler attached late, or for a reader, up to a
bound; the duplicate memory outlives the receiving client.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from support.client import RawClient
from support.starter import StartGateway

from aiconexus import Agent, ConnectionState, GatewayClient, Identity, Message

from .conftest import fast_options
from .test_cli import CLI, cli


async def _listen(url: str, key: Path, count: int, *extra: str) -> asyncio.subprocess.Process:
    """Start ``aiconexus listen --count`` and return once it is registered."""
    process = await asyncio.create_subprocess_exec(
        CLI, "listen", "--key", str(key), "--count", str(count), *extra, "--gateway", url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=dict(os.environ),
    )  # fmt: skip
    assert process.stderr is not None
    async with asyncio.timeout(20):
        line = await process.stderr.readline()
    assert b"listening as" in line, line
    return process


async def test_listen_count_acknowledges_what_it_printed_and_nothing_else(
    start_memory_gateway: StartGateway, tmp_path: Path
) -> None:
    """`listen --count 1`: its frame is `delivered`; one stored behind it comes again later."""
    gateway = start_memory_gateway()
    key = tmp_path / "bob.key"
    Identity.generate().save(key)
    bob = Identity.load(key)
    async with GatewayClient(gateway.ws_url, Identity.generate(), **fast_options()) as alice:
        listener = await _listen(gateway.ws_url, key, 1)
        status = await alice.send(bob.did, "INTENT", {"query": "live"}, timeout=15)
        stdout, _ = await asyncio.wait_for(listener.communicate(), 20)
        assert listener.returncode == 0
        assert status == "delivered"
        assert [Message.parse(line).payload for line in stdout.decode().splitlines()] == [
            {"query": "live"}
        ]
        assert key.with_name("bob.key.received").exists()  # the duplicate memory file
        # Two stored frames, a command that takes one: the other stays with the gateway.
        for query in ("first", "second"):
            assert await alice.send(bob.did, "INTENT", {"query": query}, timeout=5) == "queued"
        listener = await _listen(gateway.ws_url, key, 1)
        stdout, _ = await asyncio.wait_for(listener.communicate(), 20)
        assert Message.parse(stdout.decode()).payload == {"query": "first"}
        async with GatewayClient(gateway.ws_url, Identity.load(key), **fast_options()) as again:
            async with asyncio.timeout(10):
                assert (await again.recv()).payload == {"query": "second"}
            assert await alice.send(bob.did, "INTENT", {"query": "third"}, timeout=5)
            async with asyncio.timeout(10):
                assert (await again.recv()).payload == {"query": "third"}


async def test_listen_without_duplicate_memory_leaves_no_file(
    start_memory_gateway: StartGateway, tmp_path: Path
) -> None:
    """`listen --no-duplicate-memory` prints and acknowledges, and writes no `KEY.received`."""
    gateway = start_memory_gateway()
    key = tmp_path / "bob.key"
    Identity.generate().save(key)
    async with GatewayClient(gateway.ws_url, Identity.generate(), **fast_options()) as alice:
        listener = await _listen(gateway.ws_url, key, 1, "--no-duplicate-memory")
        status = await alice.send(Identity.load(key).did, "INTENT", {"query": "q"}, timeout=15)
        stdout, _ = await asyncio.wait_for(listener.communicate(), 20)
    assert (listener.returncode, status) == (0, "delivered")
    assert Message.parse(stdout.decode()).payload == {"query": "q"}
    assert not key.with_name("bob.key.received").exists()


async def test_request_acknowledges_the_response_before_it_exits(
    start_memory_gateway: StartGateway, tmp_path: Path
) -> None:
    """`aiconexus request`: the EXEC_RESPONSE is `delivered`, and not delivered again."""
    gateway = start_memory_gateway()
    key = tmp_path / "asker.key"
    asker = cli("keygen", "--out", str(key)).stdout.strip()
    async with GatewayClient(gateway.ws_url, Identity.generate(), **fast_options()) as worker:
        command = ("request", "--key", str(key), "--to", worker.did, "--args", '{"n": 1}')
        asking = asyncio.create_task(asyncio.to_thread(cli, *command, "--gateway", gateway.ws_url))
        async with asyncio.timeout(20):
            request = await worker.recv()
        assert request.from_ == asker
        response = request.exec_response(worker.identity, {"n": 2})
        assert await worker.send_message(response, timeout=15) == "delivered"
        done = await asyncio.wait_for(asking, 30)
    assert done.returncode == 0, done.stderr
    assert Message.parse(done.stdout).payload["result"] == {"n": 2}
    # Acknowledged before the command unregistered: nothing waits for the asker's next session.
    again = await RawClient.connect(gateway.ws_url, Identity.load(key))
    assert again.registered is not None and again.registered.payload["queued"] == 0


async def test_a_handler_attached_after_connect_gets_the_stored_frames(
    start_memory_gateway: StartGateway,
) -> None:
    """Frames stored while the agent was away wait for the OFFER handler attached late."""
    gateway = start_memory_gateway()
    agent = Agent(Identity.generate(), **fast_options())
    async with GatewayClient(gateway.ws_url, Identity.generate(), **fast_options()) as alice:
        for n in range(3):
            assert await alice.send(agent.did, "OFFER", {"sdp": f"v{n}"}, timeout=5) == "queued"
        got: list[str] = []
        three = asyncio.Event()
        async with agent.connect(gateway.ws_url):
            await alice.ping(agent.did, timeout=10)  # the stored frames came before its PONG

            @agent.on("OFFER")
            async def on_offer(message: Message) -> None:
                got.append(message.payload["sdp"])
                if len(got) == 3:
                    three.set()

            await asyncio.wait_for(three.wait(), 10)
            status = await alice.send(agent.did, "OFFER", {"sdp": "live"}, timeout=10)
    assert sorted(got[:3]) == ["v0", "v1", "v2"]
    assert status == "delivered"


async def test_frames_past_the_inbox_bound_stay_with_the_gateway(
    start_memory_gateway: StartGateway,
) -> None:
    """max_pending=2: two frames kept, three left unacknowledged and delivered next session."""
    gateway = start_memory_gateway()
    bob = Identity.generate()
    options = fast_options(duplicate_memory=False)
    async with GatewayClient(gateway.ws_url, Identity.generate(), **options) as alice:
        async with GatewayClient(gateway.ws_url, bob, max_pending=2, **options) as first:
            sends = [
                asyncio.create_task(alice.send(bob.did, "INTENT", {"query": f"q{n}"}))
                for n in range(5)
            ]
            kept = await asyncio.wait_for(asyncio.gather(*sends[:2]), 10)
            assert kept == ["delivered", "delivered"]
            assert [(await first.recv()).payload["query"] for _ in range(2)] == ["q0", "q1"]
        assert await asyncio.wait_for(asyncio.gather(*sends[2:]), 10) == ["queued"] * 3
        async with GatewayClient(gateway.ws_url, bob, **options) as second:
            async with asyncio.timeout(10):
                rest = [(await second.recv()).payload["query"] for _ in range(3)]
    assert rest == ["q2", "q3", "q4"]


async def test_the_duplicate_memory_outlives_the_receiving_client(
    start_memory_gateway: StartGateway, tmp_path: Path
) -> None:
    """A frame taken through one gateway and delivered again by another reaches user code once.

    The same frame (same id) is stored for bob at two gateways, as after a failover. A client
    object of bob's takes it from the first and closes; a new one (same key file, so the
    same memory file beside it) drops the copy the second delivers, and reads the next frame.
    """
    first_gateway, second_gateway = start_memory_gateway(), start_memory_gateway()
    key = tmp_path / "bob.key"
    Identity.generate().save(key)
    bob_did = Identity.load(key).did
    alice = Identity.generate()
    senders = [await RawClient.connect(g.ws_url, alice) for g in (first_gateway, second_gateway)]
    frame = Message.create(alice, "INTENT", bob_did, {"query": "once"})
    for sender in senders:
        await sender.send_text(frame.to_json())
        assert await sender.expect_acks(1) == {frame.id: "queued"}
    async with GatewayClient(first_gateway.ws_url, Identity.load(key), **fast_options()) as bob:
        async with asyncio.timeout(10):
            assert (await bob.recv()).id == frame.id
    async with GatewayClient(second_gateway.ws_url, Identity.load(key), **fast_options()) as bob:
        await senders[1].send_message("INTENT", bob_did, {"query": "next"})
        async with asyncio.timeout(10):
            assert (await bob.recv()).payload == {"query": "next"}


async def test_an_agent_busy_past_the_ack_timeout_is_not_a_slow_consumer(
    start_memory_gateway: StartGateway,
) -> None:
    """One handler slot busy past ACK_TIMEOUT: the gateway keeps the session.

    The frame waiting behind the busy handler is acknowledged after ``ack_within_s`` and
    handled once the handler is free.
    """
    gateway = start_memory_gateway(ACK_TIMEOUT="1.5")
    states: list[ConnectionState] = []
    agent = Agent(
        Identity.generate(),
        max_concurrency=1,
        ack_within_s=0.5,
        on_state_change=states.append,
        **fast_options(),
    )
    release, both = asyncio.Event(), asyncio.Event()
    handled: list[str] = []

    @agent.on("INTENT")
    async def busy(message: Message) -> None:
        handled.append(message.payload["query"])
        if len(handled) == 2:
            both.set()
        await release.wait()

    alice = GatewayClient(gateway.ws_url, Identity.generate(), **fast_options())
    async with alice, agent.connect(gateway.ws_url):
        first = await alice.send(agent.did, "INTENT", {"query": "a"}, timeout=10)
        second = await alice.send(agent.did, "INTENT", {"query": "b"}, timeout=10)
        await asyncio.sleep(2.5)  # past ACK_TIMEOUT with the only handler busy
        assert ConnectionState.RECONNECTING not in states
        release.set()
        await asyncio.wait_for(both.wait(), 10)
    assert (first, second) == ("delivered", "delivered")
    assert handled == ["a", "b"]
