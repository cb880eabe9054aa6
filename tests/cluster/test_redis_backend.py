"""The Redis backend on its own: two or three nodes sharing one real redis-server."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from support.redis_server import RedisServer

from aiconexus_gateway.backend.base import AgentRecord, BackendUnavailableError, StoreFullError
from aiconexus_gateway.backend.redis import RedisBackend

pytestmark = pytest.mark.redis

REPO = Path(__file__).resolve().parents[2]


class RecordingHooks:
    """A node's side of the backend: live sessions are a dict, callbacks are recorded."""

    def __init__(self, node_id: str) -> None:
        self._node_id = node_id
        self.sessions: dict[str, list[str]] = {}
        self.replaced_sessions: list[tuple[str, str]] = []
        self.stored_notices: list[str] = []

    @property
    def node_id(self) -> str:
        return self._node_id

    def deliver_local(self, recipient: str, frame: str) -> bool:
        inbox = self.sessions.get(recipient)
        if inbox is None:
            return False
        inbox.append(frame)
        return True

    def replaced(self, did: str, session_id: str) -> None:
        self.replaced_sessions.append((did, session_id))

    def stored_available(self, did: str) -> None:
        self.stored_notices.append(did)


async def eventually(condition: Callable[[], bool], within: float = 5.0) -> None:
    """Poll ``condition`` until it holds or fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def until(
    fetch: Callable[[], Awaitable[Any]],
    expected: Any,
    key: Callable[[Any], Any] = lambda value: value,
    within: float = 5.0,
) -> Any:
    """Call ``fetch`` until ``key`` of its result equals ``expected``; returns the result."""
    deadline = time.monotonic() + within
    while True:
        value = await fetch()
        if key(value) == expected:
            return value
        assert time.monotonic() < deadline, f"still {value!r}"
        await asyncio.sleep(0.01)


def record(did: str, node: str, session: str, *caps: str) -> AgentRecord:
    """An agent record as the hub would claim it."""
    now = "2026-11-26T09:00:00.000Z"
    return AgentRecord(did, caps, {"name": did}, now, now, node, session)


NodeFactory = Callable[..., Awaitable[tuple[RedisBackend, RecordingHooks]]]


@pytest.fixture
async def make_node(
    redis_server: RedisServer,
) -> AsyncIterator[NodeFactory]:
    """Start RedisBackend nodes on a key prefix of their own; close them afterwards."""
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    started: list[RedisBackend] = []

    async def start(node_id: str, **options: float) -> tuple[RedisBackend, RecordingHooks]:
        backend = RedisBackend(redis_server.url, node_id=node_id, key_prefix=prefix, **options)  # type: ignore[arg-type]
        hooks = RecordingHooks(node_id)
        await backend.start(hooks)
        started.append(backend)
        return backend, hooks

    yield start
    for backend in started:
        await backend.close()


async def test_presence_is_cluster_wide_with_capabilities(make_node: NodeFactory) -> None:
    """Agents claimed on two nodes are listed, filtered and owned identically on both."""
    a, _ = await make_node("a")
    b, _ = await make_node("b")
    await a.claim(record("did:x", "a", "s1", "search", "math"))
    await b.claim(record("did:y", "b", "s2", "math"))
    for node in (a, b):
        assert [r.did for r in await node.list_agents()] == ["did:x", "did:y"]
        assert [r.did for r in await node.list_agents("search")] == ["did:x"]
        assert {r.did for r in await node.list_agents("math")} == {"did:x", "did:y"}
        assert await node.list_agents("none") == []
        owner = await node.owner("did:y")
        assert owner is not None and (owner.node_id, owner.session_id) == ("b", "s2")
        assert owner.metadata == {"name": "did:y"} and owner.capabilities == ("math",)


async def test_pages_in_did_order_skip_dead_nodes(make_node: NodeFactory) -> None:
    """list_agents(after=, limit=) pages by DID; a dead node's agents are skipped, pages stay full."""
    a, _ = await make_node("a")
    b, _ = await make_node("b")
    for i in range(10):
        node, backend = ("a", a) if i % 2 == 0 else ("b", b)
        await backend.claim(record(f"did:{i}", node, f"s{i}", "even" if i % 2 == 0 else "odd"))
    assert [r.did for r in await a.list_agents(limit=4)] == ["did:0", "did:1", "did:2", "did:3"]
    assert [r.did for r in await a.list_agents(after="did:3", limit=4)] == [
        "did:4",
        "did:5",
        "did:6",
        "did:7",
    ]
    assert [r.did for r in await a.list_agents("odd", after="did:1", limit=2)] == ["did:3", "did:5"]
    await a._client.delete(f"{a._p}node:b")  # node b counts as dead (until its next heartbeat)
    assert [r.did for r in await a.list_agents(limit=3)] == ["did:0", "did:2", "did:4"]
    assert [r.did for r in await a.list_agents(after="did:4", limit=3)] == ["did:6", "did:8"]
    assert await a.list_agents("odd") == []
    for i in range(0, 10, 2):
        await a.release(f"did:{i}", f"s{i}")
    assert await a._client.exists(f"{a._p}capdids:even") == 0


async def test_claim_elsewhere_replaces_and_release_needs_owner(make_node: NodeFactory) -> None:
    """A claim on node b closes the session on node a; a stale release changes nothing."""
    a, hooks_a = await make_node("a")
    b, _ = await make_node("b")
    await a.claim(record("did:x", "a", "old", "cap1"))
    await b.claim(record("did:x", "b", "new", "cap2"))
    await eventually(lambda: hooks_a.replaced_sessions == [("did:x", "old")])
    await a.release("did:x", "old")
    owner = await a.owner("did:x")
    assert owner is not None and owner.session_id == "new"
    assert await a.list_agents("cap1") == []
    assert [r.did for r in await a.list_agents("cap2")] == ["did:x"]
    await b.release("did:x", "new")
    assert await b.owner("did:x") is None and await a.list_agents() == []
    await until(lambda: a.owner("did:x"), None)  # node a's cached look-up is invalidated


async def test_cached_owner_follows_a_move(make_node: NodeFactory) -> None:
    """A node that looked an owner up sees it move to another node."""
    a, _ = await make_node("a", presence_ttl=60.0)
    b, _ = await make_node("b", presence_ttl=60.0)
    c, _ = await make_node("c", presence_ttl=60.0)
    await b.claim(record("did:x", "b", "s1"))
    first = await a.owner("did:x")
    assert first is not None and first.node_id == "b"
    await c.claim(record("did:x", "c", "s2"))
    moved = await until(lambda: a.owner("did:x"), "c", key=lambda r: r.node_id if r else None)
    assert moved is not None and moved.session_id == "s2"


async def test_replay_detection_is_cluster_wide(make_node: NodeFactory) -> None:
    """An id seen on one node is a replay on the other, and new again after the window."""
    a, _ = await make_node("a")
    b, _ = await make_node("b")
    assert await a.first_seen("did:s", "m1", 0.3) is True
    assert await b.first_seen("did:s", "m1", 0.3) is False
    assert await b.first_seen("did:other", "m1", 0.3) is True
    deadline = time.monotonic() + 5
    while not await a.first_seen("did:s", "m1", 0.3):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)


async def test_send_to_node_keeps_order_and_bytes(make_node: NodeFactory) -> None:
    """Frames published concurrently arrive in issue order, byte for byte."""
    a, _ = await make_node("a")
    _, hooks_b = await make_node("b")
    hooks_b.sessions["did:r"] = []
    frames = [f'{{"n": {i},\n "s": "é\\u0000\x00 ✓"}}' for i in range(2000)]
    results = await asyncio.gather(*(a.send_to_node("b", "did:r", f) for f in frames))
    assert all(results)
    await eventually(lambda: len(hooks_b.sessions["did:r"]) == len(frames))
    assert hooks_b.sessions["did:r"] == frames
    assert await a.send_to_node("nobody", "did:r", "x") is False


async def test_frame_for_a_session_gone_meanwhile_is_stored(make_node: NodeFactory) -> None:
    """A node that gets a frame for a recipient no longer there stores it."""
    a, _ = await make_node("a")
    b, _ = await make_node("b")
    assert await a.send_to_node("b", "did:gone", "frame-1") is True
    deadline = time.monotonic() + 5
    while await b.stored_count() == 0:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    assert await a.take_stored("did:gone") == ["frame-1"]


async def test_store_bounds_order_and_expiry(make_node: NodeFactory) -> None:
    """The store keeps order, enforces both bounds and drops frames past their age."""
    a, _ = await make_node("a", store_max_per_agent=3, store_max_total=5, store_ttl=0.5)
    for i in range(3):
        await a.store("did:r1", f"r1-{i}", "did:sender")
    with pytest.raises(StoreFullError):
        await a.store("did:r1", "r1-3", "did:sender")
    await a.store("did:r2", "r2-0", "did:sender")
    await a.store("did:r2", "r2-1", "did:sender")
    with pytest.raises(StoreFullError):
        await a.store("did:r3", "r3-0", "did:sender")
    assert await a.stored_count() == 5
    assert await a.take_stored("did:r1") == ["r1-0", "r1-1", "r1-2"]
    assert await a.take_stored("did:r1") == []
    assert await a.stored_count() == 2
    deadline = time.monotonic() + 5
    while await a.stored_count():  # refresh, every CLEANUP_INTERVAL, drops expired frames
        assert time.monotonic() < deadline
        await a.refresh([])
        await asyncio.sleep(0.05)
    assert await a.take_stored("did:r2") == []


async def test_store_tells_the_live_owner_to_drain(make_node: NodeFactory) -> None:
    """A frame stored while its recipient is live on another node triggers stored_available."""
    a, _ = await make_node("a")
    b, hooks_b = await make_node("b")
    await b.claim(record("did:r", "b", "s1"))
    await a.store("did:r", "late frame", "did:sender")
    await eventually(lambda: hooks_b.stored_notices == ["did:r"])
    assert await b.take_stored("did:r") == ["late frame"]


async def test_store_survives_node_restart(make_node: NodeFactory) -> None:
    """Frames stored through one node are taken through a node started later."""
    a, _ = await make_node("a")
    await a.store("did:r", "kept", "did:sender")
    await a.close()
    c, _ = await make_node("c")
    assert await c.take_stored("did:r") == ["kept"]


_CRASHING_NODE = """
import asyncio, sys
from aiconexus_gateway.backend.base import AgentRecord
from aiconexus_gateway.backend.redis import RedisBackend

class Hooks:
    node_id = "doomed"
    def deliver_local(self, recipient, frame): return True
    def replaced(self, did, session_id): pass
    def stored_available(self, did): pass

async def main():
    backend = RedisBackend(sys.argv[1], node_id="doomed", key_prefix=sys.argv[2], presence_ttl=0.6)
    await backend.start(Hooks())
    now = "2026-11-26T09:00:00.000Z"
    await backend.claim(AgentRecord("did:ghost", ("c",), {}, now, now, "doomed", "s"))
    print("ready", flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


async def test_killed_node_leaves_no_ghost(
    make_node: NodeFactory, redis_server: RedisServer
) -> None:
    """After SIGKILL of a node its agents vanish and frames for them are refused (stored)."""
    a, _ = await make_node("a", presence_ttl=0.6)
    prefix = a._p
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "gateway"), str(REPO / "sdk")]))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _CRASHING_NODE, redis_server.url, prefix,
        stdout=subprocess.PIPE,
        env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=10)
        assert line.strip() == b"ready"
        assert [r.did for r in await a.list_agents()] == ["did:ghost"]
        proc.kill()
        await asyncio.wait_for(proc.wait(), timeout=5)
        assert await a.send_to_node("doomed", "did:ghost", "frame") is False
        deadline = time.monotonic() + 3
        while await a.owner("did:ghost") is not None or await a.list_agents("c"):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        # the sweeper of node a then removes the ghost's entries for good
        while await a._client.hlen(f"{prefix}owner") or await a._client.exists(
            f"{prefix}cap:c", f"{prefix}node_agents:doomed"
        ):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_recovers_when_redis_restarts(
    make_node: NodeFactory, redis_server: RedisServer
) -> None:
    """With Redis gone calls fail cleanly; after it returns presence and channels work again."""
    a, _ = await make_node("a", presence_ttl=1.0)
    b, hooks_b = await make_node("b", presence_ttl=1.0)
    hooks_b.sessions["did:r"] = []
    await b.claim(record("did:r", "b", "s1", "cap"))
    redis_server.stop()
    try:
        assert await a.healthy() is False
        with pytest.raises(BackendUnavailableError):
            await a.first_seen("did:s", "m", 10)
        with pytest.raises(BackendUnavailableError):
            await a.owner("did:r")
        with pytest.raises(BackendUnavailableError):
            await a.store("did:r", "x", "did:sender")
    finally:
        redis_server.start()
    deadline = time.monotonic() + 10
    while not (await a.healthy() and await b.healthy()):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    owner = await a.owner("did:r")
    assert owner is not None and owner.node_id == "b"
    assert [r.did for r in await a.list_agents("cap")] == ["did:r"]
    assert await a.send_to_node("b", "did:r", "after restart") is True
    await eventually(lambda: hooks_b.sessions["did:r"] == ["after restart"])


async def test_resend_after_the_accepting_node_died(make_node: NodeFactory) -> None:
    """A frame accepted by a node that died before handing it on may be sent again."""
    a, _ = await make_node("a")
    b, _ = await make_node("b")
    stored = '{"from": "did:s", "id": "stored"}'
    assert await a.first_seen("did:s", "lost", 60) is True
    assert await a.first_seen("did:s", "stored", 60) is True
    await a.store("did:r", stored, "did:sender")
    assert await b.first_seen("did:s", "lost", 60) is False  # node a is alive: a replay
    await a.close()
    assert await b.first_seen("did:s", "lost", 60) is True
    assert await b.first_seen("did:s", "lost", 60) is False
    assert await b.first_seen("did:s", "stored", 60) is False
    assert await b.take_stored("did:r") == [stored]
    assert await b.first_seen("did:s", "pending", 60) is True
    await b.close()
    restarted, _ = await make_node("b")  # the same node id, started anew: a new incarnation
    assert await restarted.first_seen("did:s", "pending", 60) is True


async def test_node_taken_for_dead_comes_back_and_drains(make_node: NodeFactory) -> None:
    """A node whose presence was swept re-announces its sessions and drains what was stored."""
    a, hooks_a = await make_node("a", presence_ttl=0.6)
    b, _ = await make_node("b", presence_ttl=0.6)
    await a.claim(record("did:r", "a", "s1"))
    prefix = a._p
    await a._client.delete(f"{prefix}node:a")  # as if its liveness key had expired...
    await b._script("SWEEP_NODE", "a", "1")  # ...and a sweeper had removed its agents
    await b.store("did:r", "stored while a looked dead", "did:sender")
    await eventually(lambda: "did:r" in hooks_a.stored_notices)
    owner = await b.owner("did:r")
    assert owner is not None and owner.node_id == "a"
    assert await a.take_stored("did:r") == ["stored while a looked dead"]


async def test_hung_redis_fails_calls_in_bounded_time() -> None:
    """A Redis that stops answering (SIGSTOP) fails calls after the command timeout."""
    with RedisServer() as server:
        backend = RedisBackend(server.url, node_id="a", command_timeout=0.5, presence_ttl=1.0)
        await backend.start(RecordingHooks("a"))
        try:
            assert await backend.first_seen("did:s", "m0", 60) is True
            assert server._process is not None
            server._process.send_signal(signal.SIGSTOP)
            try:
                started = time.monotonic()
                with pytest.raises(BackendUnavailableError):
                    await backend.first_seen("did:s", "m1", 60)
                assert time.monotonic() - started < 5
                assert await backend.healthy() is False
            finally:
                server._process.send_signal(signal.SIGCONT)
            deadline = time.monotonic() + 10
            while not await backend.healthy():
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            assert await backend.first_seen("did:s", "m2", 60) is True
        finally:
            await backend.close()


async def test_store_byte_totals_follow_take_and_expiry(make_node: NodeFactory) -> None:
    """Per-sender and byte totals return to zero; non-ASCII and older entries read back."""
    a, _ = await make_node("a", store_ttl=0.3)
    client, p = a._client, a._p
    await a.store("did:r", "é-frame", "did:sénder")
    await client.rpush(f"{p}store:did:r", f"{int(time.time() * 1000)}:old-frame")  # older format
    await client.incr(f"{p}store_total")
    assert await client.hgetall(f"{p}store_sender") == {"did:sénder": "1"}
    assert await client.get(f"{p}store_bytes") == str(len("é-frame".encode()))
    assert await a.take_stored("did:r") == ["é-frame", "old-frame"]
    await a.store("did:q", "expires", "did:s")
    await asyncio.sleep(0.4)  # past STORE_TTL
    await a.refresh([])
    assert await a.stored_count() == 0
    assert await client.hgetall(f"{p}store_sender") == {}
    assert await client.hgetall(f"{p}store_agent_bytes") == {}
    assert await client.get(f"{p}store_bytes") == "0"


async def test_held_frames_leave_and_rejoin_the_store_totals(make_node: NodeFactory) -> None:
    """HOLD uncounts like TAKE, UNHOLD counts again at the head, SETTLE drops for good."""
    a, _ = await make_node("a", store_max_per_agent=2)
    b, hooks_b = await make_node("b")
    client, p = a._client, a._p
    await a.store("did:r", "é-1", "did:s")
    await a.store("did:r", "two", "did:s")
    with pytest.raises(StoreFullError):
        await a.store("did:r", "three", "did:s")
    held = await a.hold_stored("did:r", include_held=False)
    assert [frame for _, frame in held] == ["é-1", "two"]
    assert await a.stored_count() == 0
    assert await client.get(f"{p}store_bytes") == "0"
    assert await client.get(f"{p}store_unseen_bytes") == "0"
    assert await client.hgetall(f"{p}store_sender") == {}
    assert await client.hgetall(f"{p}store_agent_bytes") == {}
    assert await client.zscore(f"{p}seen_agents", "did:r") is not None  # as TAKE does
    await a.store("did:r", "three", "did:s")  # room again: held frames no longer count
    await b.claim(record("did:r", "b", "s1"))
    await a.unhold("did:r", [token for token, _ in held])
    await eventually(lambda: hooks_b.stored_notices == ["did:r"])
    assert await a.stored_count() == 3
    size = len("é-1".encode()) + len("two") + len("three")
    assert await client.get(f"{p}store_bytes") == str(size)
    assert await client.hgetall(f"{p}store_sender") == {"did:s": "3"}
    assert await client.hgetall(f"{p}store_agent_bytes") == {"did:r": str(size)}
    head = await client.lindex(f"{p}store:did:r", 0)
    assert isinstance(head, str)
    stamp = head.partition(":")[0]
    assert await client.zscore(f"{p}store_due", "did:r") == int(stamp)
    again = await a.hold_stored("did:r", include_held=True)
    assert [frame for _, frame in again] == ["é-1", "two", "three"]
    await a.settle_held("did:r", [token for token, _ in again[:2]])
    assert [f for _, f in await a.hold_stored("did:r", include_held=True)] == ["three"]
    assert await client.pttl(f"{p}held:did:r") > 0
    await a.settle_held("did:r", [again[2][0]])
    assert await client.exists(f"{p}held:did:r") == 0
    assert await a.stored_count() == 0
    assert await client.get(f"{p}store_bytes") == "0"
