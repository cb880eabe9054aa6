"""Cross-node frames of one loop turn leave as one channel message per destination node."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from support.redis_server import RedisServer

from aiconexus_gateway.backend._redis_codec import batch_message, split_batch
from aiconexus_gateway.backend.redis import RedisBackend

from .test_redis_backend import RecordingHooks, eventually

pytestmark = pytest.mark.redis


@pytest.fixture
def prefix() -> str:
    """A key prefix of this test's own."""
    return f"b{uuid.uuid4().hex[:8]}:"


@pytest.fixture
async def nodes(
    redis_server: RedisServer, prefix: str
) -> AsyncIterator[tuple[RedisBackend, RedisBackend, RecordingHooks]]:
    """Nodes ``a`` and ``b`` on one prefix; ``b``'s hooks hold its sessions."""
    a = RedisBackend(redis_server.url, node_id="a", key_prefix=prefix)
    b = RedisBackend(redis_server.url, node_id="b", key_prefix=prefix)
    hooks_b = RecordingHooks("b")
    await a.start(RecordingHooks("a"))
    await b.start(hooks_b)
    yield a, b, hooks_b
    await a.close()
    await b.close()


async def test_frames_of_one_turn_leave_in_one_message(
    redis_server: RedisServer,
    prefix: str,
    nodes: tuple[RedisBackend, RedisBackend, RecordingHooks],
) -> None:
    """Frames sent to one node in one loop turn arrive in order, through one PUBLISH."""
    a, _, hooks_b = nodes
    hooks_b.sessions = {"did:r": [], "did:q": []}
    listener = aioredis.Redis.from_url(redis_server.url)
    pubsub = listener.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(f"{prefix}ch:b", f"{prefix}chb:b")
    frames = [(("did:r", "did:q")[i % 2], f'{{"n":{i},"s":"é\x00✓"}}') for i in range(50)]
    try:
        results = await asyncio.gather(*(a.send_to_node("b", r, f) for r, f in frames))
        assert all(results)
        await eventually(lambda: sum(map(len, hooks_b.sessions.values())) == len(frames))
        for did in ("did:r", "did:q"):
            assert hooks_b.sessions[did] == [f for r, f in frames if r == did]
        messages = 0
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            if await pubsub.get_message(timeout=0.1) is not None:
                messages += 1
        assert messages == 1
    finally:
        await pubsub.aclose()
        await listener.aclose()


async def test_every_frame_of_a_batch_is_marked_handed_on(
    nodes: tuple[RedisBackend, RedisBackend, RecordingHooks],
) -> None:
    """After a batch was published, none of its frames may be accepted again anywhere."""
    a, b, hooks_b = nodes
    hooks_b.sessions = {"did:r": []}
    ids = [f"m{i}" for i in range(20)]
    for message_id in ids:
        assert await a.first_seen("did:s", message_id, 60) is True
    frames = [f'{{"from":"did:s","id":"{message_id}"}}' for message_id in ids]
    assert all(await asyncio.gather(*(a.send_to_node("b", "did:r", f) for f in frames)))
    await a.close()  # the accepting node is gone: only markers handed on still count
    for message_id in ids:
        assert await b.first_seen("did:s", message_id, 60) is False


async def test_a_node_that_cannot_unpack_batches_never_gets_one(
    redis_server: RedisServer,
    prefix: str,
    nodes: tuple[RedisBackend, RedisBackend, RecordingHooks],
) -> None:
    """An older node (plain channel only) gets single frames, never a batch it would drop."""
    a, _, _ = nodes
    old = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    pubsub = old.pubsub(ignore_subscribe_messages=True)
    await old.set(f"{prefix}node:old", "1", px=60_000)
    await pubsub.subscribe(f"{prefix}ch:old")

    async def received(seconds: float) -> list[str]:
        got, deadline = [], time.monotonic() + seconds
        while time.monotonic() < deadline:
            message = await pubsub.get_message(timeout=0.1)
            if message is not None:
                got.append(message["data"])
        return got

    try:
        assert await a.send_to_node("old", "did:r", "single") is True
        [message] = await received(1.0)
        assert message.endswith("single")
        frames = [f"f{i}" for i in range(3)]
        results = await asyncio.gather(*(a.send_to_node("old", "did:r", f) for f in frames))
        assert results == [False, False, False]
        assert await received(0.5) == []
    finally:
        await pubsub.aclose()
        await old.aclose()


def test_batch_message_round_trip() -> None:
    """Any recipient and frame text (NUL, colons, digits, non-ASCII) comes back unchanged."""
    entries = [("did:a", "12:x\x00y"), ("", ""), ("did:ü", '{"a":"✓:3:"}'), ("d", "9" * 30)]
    message = batch_message(entries)
    assert message.startswith("B\x00")
    assert split_batch(message[2:]) == entries


@pytest.mark.parametrize("body", ["x", "5:abc", "3:abc", "3:abc2", "3:abc-1:", ":ab"])
def test_malformed_batch_body_is_refused(body: str) -> None:
    """A body that is not whole length-prefixed pairs raises ValueError."""
    with pytest.raises(ValueError):
        split_batch(body)
