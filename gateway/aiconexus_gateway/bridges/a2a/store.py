"""Where the A2A bridge keeps its tasks and the cards it has seen: memory, SQLite or Redis.

A task is kept as a :class:`TaskRecord`: who asked (caller name and DID), which agent, its
state, when it last changed, and the task itself (its protobuf encoding, cheap to write).
Open tasks (not in a terminal state) survive a restart with the SQLite and Redis stores,
and the bridge completes them when their answer arrives. The cards of agents seen in the
directory are kept too, so an agent that went offline still has its card served and can
still be sent tasks.

One interface (:class:`TaskStore`), three implementations side by side, one test suite.
"""

from __future__ import annotations

import asyncio
import sqlite3
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis.typing import EncodableT, FieldT

__all__ = [
    "MemoryTaskStore",
    "RedisTaskStore",
    "SqliteTaskStore",
    "TaskRecord",
    "TaskStore",
    "open_store",
]


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """One task as stored."""

    id: str
    caller: str
    """The caller's name (BRIDGE_TOKENS), to reopen its identity after a restart."""
    owner: str
    """The caller's DID: only it may read, list or cancel the task."""
    agent: str
    """The DID of the agent the task was sent to."""
    context_id: str
    state: int
    """The A2A ``TaskState`` number."""
    open: bool
    """False once the state is terminal."""
    updated: float
    """Seconds since the epoch of the last change."""
    task: bytes
    """The A2A task (its protobuf encoding)."""

    def _who(self) -> tuple[str, str, str, str, str]:
        return self.id, self.caller, self.owner, self.agent, self.context_id

    def with_task(self, task: bytes, state: int, open: bool, updated: float) -> TaskRecord:
        """A copy with the task changed."""
        return TaskRecord(
            self.id,
            self.caller,
            self.owner,
            self.agent,
            self.context_id,
            state,
            open,
            updated,
            task,
        )


class TaskStore(ABC):
    """Tasks by id, by (owner, agent), the open ones; and cards by agent DID."""

    @abstractmethod
    async def put(self, record: TaskRecord) -> None:
        """Insert or replace ``record``."""

    @abstractmethod
    async def get(self, task_id: str) -> TaskRecord | None:
        """The task ``task_id``, or None."""

    @abstractmethod
    async def delete(self, task_id: str) -> None:
        """Forget a task (one that was refused before it started)."""

    @abstractmethod
    async def page(
        self, owner: str, agent: str, *, offset: int, limit: int
    ) -> tuple[list[TaskRecord], int]:
        """The ``owner``'s tasks sent to ``agent``, newest change first, and their number."""

    @abstractmethod
    async def count(self, owner: str, agent: str) -> int:
        """How many tasks ``owner`` has sent to ``agent`` (kept ones, open or not)."""

    @abstractmethod
    async def open_tasks(self) -> list[TaskRecord]:
        """Every task not in a terminal state."""

    @abstractmethod
    async def remember_card(self, did: str, card: str, encrypt: bool = False) -> None:
        """Keep the card (JSON) last seen for agent ``did``, and whether it asks to encrypt."""

    @abstractmethod
    async def card(self, did: str) -> tuple[str, bool] | None:
        """The card last seen for agent ``did`` and its wish for encryption, or None."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections and files."""


class MemoryTaskStore(TaskStore):
    """Tasks in this process only (lost on restart)."""

    def __init__(self) -> None:
        self._tasks: dict[str, TaskRecord] = {}
        self._by_owner: dict[tuple[str, str], set[str]] = {}
        self._cards: dict[str, tuple[str, bool]] = {}

    async def put(self, record: TaskRecord) -> None:  # noqa: D102
        self._tasks[record.id] = record
        self._by_owner.setdefault((record.owner, record.agent), set()).add(record.id)

    async def get(self, task_id: str) -> TaskRecord | None:  # noqa: D102
        return self._tasks.get(task_id)

    async def delete(self, task_id: str) -> None:  # noqa: D102
        record = self._tasks.pop(task_id, None)
        if record is not None:
            ids = self._by_owner[(record.owner, record.agent)]
            ids.discard(task_id)
            if not ids:
                del self._by_owner[(record.owner, record.agent)]

    async def page(  # noqa: D102
        self, owner: str, agent: str, *, offset: int, limit: int
    ) -> tuple[list[TaskRecord], int]:
        mine = [self._tasks[i] for i in self._by_owner.get((owner, agent), ())]
        mine.sort(key=lambda r: (-r.updated, r.id))
        return mine[offset : offset + limit], len(mine)

    async def count(self, owner: str, agent: str) -> int:  # noqa: D102
        return len(self._by_owner.get((owner, agent), ()))

    async def open_tasks(self) -> list[TaskRecord]:  # noqa: D102
        return [r for r in self._tasks.values() if r.open]

    async def remember_card(self, did: str, card: str, encrypt: bool = False) -> None:  # noqa: D102
        self._cards[did] = (card, encrypt)

    async def card(self, did: str) -> tuple[str, bool] | None:  # noqa: D102
        return self._cards.get(did)

    async def close(self) -> None:  # noqa: D102
        self._tasks.clear()
        self._by_owner.clear()


_SCHEMA = """
CREATE TABLE IF NOT EXISTS a2a_tasks (
    id TEXT PRIMARY KEY, caller TEXT NOT NULL, owner TEXT NOT NULL, agent TEXT NOT NULL,
    context_id TEXT NOT NULL, state INTEGER NOT NULL, open INTEGER NOT NULL,
    updated REAL NOT NULL, task BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS a2a_tasks_owner ON a2a_tasks (owner, agent, updated);
CREATE INDEX IF NOT EXISTS a2a_tasks_open ON a2a_tasks (open) WHERE open = 1;
CREATE TABLE IF NOT EXISTS a2a_cards (
    did TEXT PRIMARY KEY, card TEXT NOT NULL, encrypt INTEGER NOT NULL DEFAULT 0
);
"""
_COLUMNS = "id, caller, owner, agent, context_id, state, open, updated, task"


def _record(row: tuple[Any, ...]) -> TaskRecord:
    return TaskRecord(
        id=row[0],
        caller=row[1],
        owner=row[2],
        agent=row[3],
        context_id=row[4],
        state=int(row[5]),
        open=bool(row[6]),
        updated=float(row[7]),
        task=bytes(row[8]),
    )


class SqliteTaskStore(TaskStore):
    """Tasks in a SQLite file (WAL), written from a worker thread one statement at a time."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._lock = asyncio.Lock()

    async def _run(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        async with self._lock:
            return await asyncio.to_thread(lambda: self._db.execute(sql, args).fetchall())

    async def put(self, record: TaskRecord) -> None:  # noqa: D102
        await self._run(
            f"INSERT OR REPLACE INTO a2a_tasks ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.id,
                record.caller,
                record.owner,
                record.agent,
                record.context_id,
                record.state,
                int(record.open),
                record.updated,
                record.task,
            ),
        )

    async def get(self, task_id: str) -> TaskRecord | None:  # noqa: D102
        rows = await self._run(f"SELECT {_COLUMNS} FROM a2a_tasks WHERE id = ?", (task_id,))
        return _record(rows[0]) if rows else None

    async def delete(self, task_id: str) -> None:  # noqa: D102
        await self._run("DELETE FROM a2a_tasks WHERE id = ?", (task_id,))

    async def page(  # noqa: D102
        self, owner: str, agent: str, *, offset: int, limit: int
    ) -> tuple[list[TaskRecord], int]:
        rows = await self._run(
            f"SELECT {_COLUMNS} FROM a2a_tasks WHERE owner = ? AND agent = ? "
            "ORDER BY updated DESC, id LIMIT ? OFFSET ?",
            (owner, agent, limit, offset),
        )
        return [_record(row) for row in rows], await self.count(owner, agent)

    async def count(self, owner: str, agent: str) -> int:  # noqa: D102
        rows = await self._run(
            "SELECT COUNT(*) FROM a2a_tasks WHERE owner = ? AND agent = ?", (owner, agent)
        )
        return int(rows[0][0])

    async def open_tasks(self) -> list[TaskRecord]:  # noqa: D102
        rows = await self._run(f"SELECT {_COLUMNS} FROM a2a_tasks WHERE open = 1")
        return [_record(row) for row in rows]

    async def remember_card(self, did: str, card: str, encrypt: bool = False) -> None:  # noqa: D102
        await self._run(
            "INSERT OR REPLACE INTO a2a_cards (did, card, encrypt) VALUES (?, ?, ?)",
            (did, card, int(encrypt)),
        )

    async def card(self, did: str) -> tuple[str, bool] | None:  # noqa: D102
        rows = await self._run("SELECT card, encrypt FROM a2a_cards WHERE did = ?", (did,))
        return (str(rows[0][0]), bool(rows[0][1])) if rows else None

    async def close(self) -> None:  # noqa: D102
        async with self._lock:
            self._db.close()


class RedisTaskStore(TaskStore):
    """Tasks in Redis: a hash per task, a sorted set per (owner, agent), a set of open ids."""

    def __init__(self, url: str, *, prefix: str = "aiconexus:a2a:") -> None:
        try:
            from redis.asyncio import Redis
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            raise RuntimeError(
                "the Redis task store needs the redis extra: pip install 'aiconexus-gateway[redis]'"
            ) from exc
        self._redis = Redis.from_url(url)
        self._prefix = prefix

    def _key(self, *parts: str) -> str:
        return self._prefix + ":".join(parts)

    async def put(self, record: TaskRecord) -> None:  # noqa: D102
        fields: dict[FieldT, EncodableT] = {
            "caller": record.caller,
            "owner": record.owner,
            "agent": record.agent,
            "context_id": record.context_id,
            "state": record.state,
            "open": int(record.open),
            "updated": record.updated,
            "task": record.task,
        }
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(self._key("task", record.id), mapping=fields)
        pipe.zadd(self._key("owner", record.owner, record.agent), {record.id: record.updated})
        if record.open:
            pipe.sadd(self._key("open"), record.id)
        else:
            pipe.srem(self._key("open"), record.id)
        await pipe.execute()

    async def get(self, task_id: str) -> TaskRecord | None:  # noqa: D102
        fields = await self._redis.hgetall(self._key("task", task_id))
        if not fields:
            return None
        raw = {_text(k): _raw(v) for k, v in fields.items()}
        text = {k: v.decode() for k, v in raw.items() if k != "task"}
        return TaskRecord(
            id=task_id,
            caller=text["caller"],
            owner=text["owner"],
            agent=text["agent"],
            context_id=text["context_id"],
            state=int(text["state"]),
            open=text["open"] == "1",
            updated=float(text["updated"]),
            task=raw["task"],
        )

    async def delete(self, task_id: str) -> None:  # noqa: D102
        record = await self.get(task_id)
        if record is None:
            return
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(self._key("task", task_id))
        pipe.zrem(self._key("owner", record.owner, record.agent), task_id)
        pipe.srem(self._key("open"), task_id)
        await pipe.execute()

    async def page(  # noqa: D102
        self, owner: str, agent: str, *, offset: int, limit: int
    ) -> tuple[list[TaskRecord], int]:
        key = self._key("owner", owner, agent)
        ids = await self._redis.zrevrange(key, offset, offset + limit - 1)
        records = [await self.get(_text(task_id)) for task_id in ids]
        return [r for r in records if r is not None], await self.count(owner, agent)

    async def count(self, owner: str, agent: str) -> int:  # noqa: D102
        return int(await self._redis.zcard(self._key("owner", owner, agent)))

    async def open_tasks(self) -> list[TaskRecord]:  # noqa: D102
        ids = await self._redis.smembers(self._key("open"))
        records = [await self.get(_text(task_id)) for task_id in sorted(ids)]
        return [r for r in records if r is not None and r.open]

    async def remember_card(self, did: str, card: str, encrypt: bool = False) -> None:  # noqa: D102
        await self._redis.hset(self._key("cards"), did, ("1" if encrypt else "0") + card)

    async def card(self, did: str) -> tuple[str, bool] | None:  # noqa: D102
        value = await self._redis.hget(self._key("cards"), did)
        if value is None:
            return None
        text = _text(value)
        return text[1:], text[:1] == "1"

    async def close(self) -> None:  # noqa: D102
        await self._redis.aclose()


def _raw(value: object) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def open_store(storage_type: str, *, sqlite_path: Path, redis_url: str) -> TaskStore:
    """The task store for the gateway's ``STORAGE_TYPE`` (SQLite file: ``sqlite_path``)."""
    if storage_type == "sqlite":
        return SqliteTaskStore(sqlite_path)
    if storage_type == "redis":
        return RedisTaskStore(redis_url)
    return MemoryTaskStore()
