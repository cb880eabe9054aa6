"""The A2A task stores, one behaviour suite over memory, SQLite and Redis."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

pytest.importorskip("a2a", reason="the A2A bridge tests need the a2a extra")

from support.redis_server import RedisServer, redis_or_skip

from aiconexus_gateway.bridges.a2a.store import (
    MemoryTaskStore,
    RedisTaskStore,
    SqliteTaskStore,
    TaskRecord,
    TaskStore,
)


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for the module's Redis cases (a database each)."""
    with redis_or_skip(databases=64) as server:
        yield server


_databases = itertools.count(1)


@pytest.fixture(params=["memory", "sqlite", pytest.param("redis", marks=pytest.mark.redis)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[TaskStore]:
    """Each implementation in turn, empty."""
    if request.param == "memory":
        yield MemoryTaskStore()
    elif request.param == "sqlite":
        sqlite = SqliteTaskStore(tmp_path / "tasks.db")
        yield sqlite
        await sqlite.close()
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        redis = RedisTaskStore(server.url_of(next(_databases)))
        yield redis
        await redis.close()


def record(
    task_id: str, owner: str = "did:a", updated: float = 1.0, open: bool = True
) -> TaskRecord:
    return TaskRecord(
        id=task_id,
        caller="alice",
        owner=owner,
        agent="did:agent",
        context_id="ctx",
        state=2,
        open=open,
        updated=updated,
        task=b"\x00\xffbytes",
    )


async def test_put_get_delete(store: TaskStore) -> None:
    """A record comes back as stored (bytes intact), replaced by id, gone once deleted."""
    await store.put(record("t1"))
    assert await store.get("t1") == record("t1")
    await store.put(record("t1", updated=2.0, open=False))
    assert (await store.get("t1")) == record("t1", updated=2.0, open=False)
    await store.delete("t1")
    assert await store.get("t1") is None
    await store.delete("t1")  # twice is fine


async def test_pages_per_owner_and_open_tasks(store: TaskStore) -> None:
    """Pages list one owner's tasks newest first; open_tasks lists the unfinished ones."""
    for n in range(5):
        await store.put(record(f"t{n}", updated=float(n), open=n % 2 == 0))
    await store.put(record("other", owner="did:b"))
    page, total = await store.page("did:a", "did:agent", offset=0, limit=2)
    assert total == 5 and [r.id for r in page] == ["t4", "t3"]
    assert await store.count("did:a", "did:agent") == 5
    assert await store.count("did:a", "did:other") == 0
    page, _ = await store.page("did:a", "did:agent", offset=4, limit=2)
    assert [r.id for r in page] == ["t0"]
    assert {r.id for r in await store.open_tasks()} == {"t0", "t2", "t4", "other"}
    assert (await store.page("did:b", "did:agent", offset=0, limit=9))[1] == 1


async def test_cards(store: TaskStore) -> None:
    """The last card seen for a DID is kept, with the agent's wish for encryption."""
    assert await store.card("did:x") is None
    await store.remember_card("did:x", '{"name":"one"}')
    assert await store.card("did:x") == ('{"name":"one"}', False)
    await store.remember_card("did:x", '{"name":"two"}', True)
    assert await store.card("did:x") == ('{"name":"two"}', True)
