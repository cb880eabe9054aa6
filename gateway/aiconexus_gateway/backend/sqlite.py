"""The SQLite backend: one gateway process whose offline store survives restarts and SIGKILL.

Presence is the memory backend's (one node). Stored frames, their replay markers and the
DIDs that registered here live in one SQLite file (``SQLITE_PATH``, WAL mode), written by one
thread that commits in groups (:mod:`._sqlite_writer`):

* a frame is acknowledged ``queued`` only once the transaction holding it (and its replay
  marker) is committed;
* the replay marker of a frame delivered live is committed right after the frame was written
  to the recipient's connection (within milliseconds; the ACK ``delivered`` may overtake it,
  so a SIGKILL in between lets a copy sent again through: delivery is at least once);
* the bounds are running totals kept in the process (rebuilt from the file at start-up, see
  :mod:`._store_quota`); expiry removes rows by the index on their age limit, a batch at a
  time, never scanning every recipient;
* a frame taken for a session with recipient acknowledgements stays in the file, marked held
  (no longer counted in the bounds), until it is acknowledged (:meth:`SqliteBackend.settle_held`
  deletes it); put back (:meth:`SqliteBackend.unhold`), or found held at start-up, it counts
  again and, its row id being older than anything stored since, comes first again.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import sqlite3
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import ClassVar

from ._sqlite_writer import SqliteWriter
from ._store_quota import SeenAgents, StoreAccounts, StoreLimits, frame_size
from .base import AgentRecord, BackendUnavailableError, NodeHooks, StoreFullError
from .memory import DEFAULT_REPLAY_ENTRIES, MemoryBackend, remember_once

__all__ = ["SCHEMA", "SqliteBackend", "replay_digest"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS frames (
    id INTEGER PRIMARY KEY,
    recipient TEXT NOT NULL,
    sender TEXT NOT NULL,
    size INTEGER NOT NULL,
    unseen INTEGER NOT NULL,
    expires REAL NOT NULL,
    frame TEXT NOT NULL,
    held INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS frames_by_recipient ON frames (recipient, id);
CREATE INDEX IF NOT EXISTS frames_by_expiry ON frames (expires);
CREATE TABLE IF NOT EXISTS replay (digest INTEGER PRIMARY KEY, expires REAL NOT NULL);
CREATE INDEX IF NOT EXISTS replay_by_expiry ON replay (expires);
CREATE TABLE IF NOT EXISTS seen_agents (did TEXT PRIMARY KEY, at REAL NOT NULL);
"""
"""Tables of the SQLite file (frames, replay markers, DIDs that registered)."""

EXPIRE_BATCH = 2000
"""Most expired rows of each table removed by one expiry job."""


def replay_digest(sender: str, message_id: str) -> int:
    """A stable signed 64-bit digest of (sender, id): the key of its replay marker."""
    data = f"{sender}\x00{message_id}".encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big", signed=True)


class SqliteBackend(MemoryBackend):
    """Presence in memory; offline store and replay markers in a SQLite file."""

    name: ClassVar[str] = "sqlite"

    def __init__(
        self,
        path: Path,
        *,
        store_limits: StoreLimits | None = None,
        replay_max_entries: int = DEFAULT_REPLAY_ENTRIES,
    ) -> None:
        limits = store_limits or StoreLimits()
        super().__init__(store_limits=limits, replay_max_entries=replay_max_entries)
        self.path = path
        self.limits = limits
        self.writer = SqliteWriter(path, schema=SCHEMA)
        self._accounts = StoreAccounts(limits)
        self._registered = SeenAgents(limits.seen_max)
        self._markers: dict[int, float] = {}
        self._next_expiry = math.inf

    # lifecycle ------------------------------------------------------------------------------
    async def start(self, hooks: NodeHooks) -> None:
        """Open the file and load the totals, the replay markers and the registered DIDs."""
        await super().start(hooks)
        try:
            await self.writer.open()
            state = await self.writer.run(partial(_load, time.time()))
        except (sqlite3.Error, OSError) as exc:
            raise BackendUnavailableError(f"SQLITE_PATH={self.path}: {exc}") from exc
        rows, markers, seen, self._next_expiry = state
        for recipient, sender, size, unseen in rows:
            self._accounts.add(recipient, sender, size, bool(unseen))
        self._markers = dict(markers)
        forgotten = [gone for did in seen for gone in self._registered.add(did)]
        if forgotten:
            self.writer.submit(partial(_forget_agents, forgotten))

    async def close(self) -> None:
        """Commit what is pending and close the file."""
        await super().close()
        await self.writer.close()

    async def refresh(self, records: Sequence[AgentRecord]) -> None:
        """Keep presence current and remove expired frames and markers from the file."""
        await super().refresh(records)
        await self._expire(time.time())

    # replay detection ----------------------------------------------------------------------
    async def first_seen(self, sender: str, message_id: str, window_s: float) -> bool:
        """True if (sender, id) is new within ``window_s``; kept in memory until handed on."""
        digest = replay_digest(sender, message_id)
        return remember_once(self._markers, digest, time.time(), window_s, self._replay_max)

    async def forget(self, sender: str, message_id: str) -> None:
        """Drop the marker of a refused frame (it never reached the file)."""
        self._markers.pop(replay_digest(sender, message_id), None)

    def handed_on(self, sender: str, message_id: str) -> None:
        """Commit the marker of a frame delivered live (in the next group, not awaited)."""
        digest = replay_digest(sender, message_id)
        expires = self._markers.get(digest)
        if expires is not None:
            self.writer.submit(partial(_mark, digest, expires))

    # offline store -------------------------------------------------------------------------
    async def store(
        self, recipient: str, frame: str, sender: str, message_id: str | None = None
    ) -> None:
        """Insert ``frame`` (and its replay marker); returns once that is committed."""
        kept = await self.begin_store(recipient, frame, sender, message_id)
        await kept

    async def begin_store(
        self, recipient: str, frame: str, sender: str, message_id: str | None = None
    ) -> asyncio.Future[None]:
        """Check the bounds and queue the insert; the future completes once it is committed.

        Inserts queued one after the other (e.g. many frames for one recipient) share commits.
        """
        if self.limits.per_agent <= 0:
            raise StoreFullError("offline store is disabled")
        size = frame_size(frame)
        unseen = recipient not in self._registered
        now = time.time()
        refusal = self._accounts.refusal(recipient, sender, size, unseen)
        if refusal is not None and now >= self._next_expiry:
            await self._expire(now)
            refusal = self._accounts.refusal(recipient, sender, size, unseen)
        if refusal is not None:
            raise refusal
        marker = None
        if message_id is not None:
            digest = replay_digest(sender, message_id)
            if digest in self._markers:
                marker = (digest, self._markers[digest])
        expires = now + self.limits.ttl
        self._next_expiry = min(self._next_expiry, expires)
        self._accounts.add(recipient, sender, size, unseen)
        row = (recipient, sender, size, int(unseen), expires, frame)
        kept = self.writer.queue(partial(_insert, row, marker))
        outcome: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def committed(done: asyncio.Future[None]) -> None:
            error = asyncio.CancelledError() if done.cancelled() else done.exception()
            if error is None:
                outcome.set_result(None)
                return
            self._accounts.remove(recipient, sender, size, unseen)
            outcome.set_exception(BackendUnavailableError(f"SQLite store: {error!r}"))

        kept.add_done_callback(committed)
        return outcome

    async def take_stored(self, recipient: str) -> list[str]:
        """Remove and return the unexpired frames of ``recipient``; remember it registered."""
        now = time.time()
        forgotten = self._registered.add(recipient)
        try:
            rows = await self.writer.run(partial(_take, recipient, now, forgotten))
        except Exception as exc:
            raise BackendUnavailableError(f"SQLite store: {exc!r}") from exc
        frames = []
        for sender, size, unseen, held, expires, frame in rows:
            if not held:
                self._accounts.remove(recipient, sender, size, bool(unseen))
            if expires > now:
                frames.append(frame)
        return frames

    async def hold_stored(self, recipient: str, *, include_held: bool) -> list[tuple[str, str]]:
        """Mark the frames of ``recipient`` held (they stay in the file); (row id, frame)s.

        They leave the bounds' totals as taken frames do, and the recipient is remembered as
        registered. Expired ones are deleted instead.
        """
        now = time.time()
        forgotten = self._registered.add(recipient)
        job = partial(_hold, recipient, include_held, now, forgotten)
        try:
            rows = await self.writer.run(job)
        except Exception as exc:
            raise BackendUnavailableError(f"SQLite store: {exc!r}") from exc
        frames = []
        for row_id, sender, size, unseen, held, expires, frame in rows:
            if not held:
                self._accounts.remove(recipient, sender, size, bool(unseen))
            if expires > now:
                frames.append((str(row_id), frame))
        return frames

    async def settle_held(self, recipient: str, tokens: list[str]) -> None:
        """Delete the held frames ``tokens`` of ``recipient`` (acknowledged)."""
        ids = _row_ids(tokens)
        if not ids:
            return
        try:
            await self.writer.run(partial(_settle, recipient, ids))
        except Exception as exc:
            raise BackendUnavailableError(f"SQLite store: {exc!r}") from exc

    async def unhold(self, recipient: str, tokens: list[str]) -> None:
        """Put held frames back in the store (first, by their row ids); count them again."""
        ids = _row_ids(tokens)
        if not ids:
            return
        try:
            rows = await self.writer.run(partial(_unhold, recipient, ids))
        except Exception as exc:
            raise BackendUnavailableError(f"SQLite store: {exc!r}") from exc
        for sender, size, unseen in rows:
            self._accounts.add(recipient, sender, size, bool(unseen))
        if rows and recipient in self._agents and self._hooks is not None:
            self._hooks.stored_available(recipient)

    async def stored_count(self) -> int:
        """How many frames the file holds."""
        return self._accounts.frames

    async def stored_bytes(self) -> int:
        """UTF-8 bytes of frame text the file holds (a running total)."""
        return self._accounts.bytes

    async def _expire(self, now: float) -> None:
        self._next_expiry = math.inf
        try:
            rows, following = await self.writer.run(partial(_expire, now))
        except Exception as exc:
            raise BackendUnavailableError(f"SQLite store: {exc!r}") from exc
        for recipient, sender, size, unseen, held in rows:
            if not held:
                self._accounts.remove(recipient, sender, size, bool(unseen))
        if following is not None:
            self._next_expiry = min(self._next_expiry, following)


# jobs run by the database thread ------------------------------------------------------------
_Row = tuple[str, str, int, int]
_Expired = tuple[str, str, int, int, int]
_State = tuple[list[_Row], list[tuple[int, float]], list[str], float]


def _load(now: float, db: sqlite3.Connection) -> _State:
    columns = {row[1] for row in db.execute("PRAGMA table_info(frames)")}
    if "held" not in columns:  # a file written before frames could be held
        db.execute("ALTER TABLE frames ADD COLUMN held INTEGER NOT NULL DEFAULT 0")
    db.execute("UPDATE frames SET held = 0 WHERE held = 1")  # their sessions died with us
    db.execute("DELETE FROM replay WHERE expires <= ?", (now,))
    rows = db.execute("SELECT recipient, sender, size, unseen FROM frames").fetchall()
    markers = db.execute("SELECT digest, expires FROM replay ORDER BY expires").fetchall()
    seen = [did for (did,) in db.execute("SELECT did FROM seen_agents ORDER BY at")]
    (first,) = db.execute("SELECT MIN(expires) FROM frames").fetchone()
    return rows, markers, seen, math.inf if first is None else float(first)


def _insert(
    row: tuple[str, str, int, int, float, str],
    marker: tuple[int, float] | None,
    db: sqlite3.Connection,
) -> None:
    db.execute(
        "INSERT INTO frames (recipient, sender, size, unseen, expires, frame)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        row,
    )
    if marker is not None:
        _mark(*marker, db)


def _mark(digest: int, expires: float, db: sqlite3.Connection) -> None:
    db.execute("INSERT OR REPLACE INTO replay (digest, expires) VALUES (?, ?)", (digest, expires))


def _take(
    recipient: str, now: float, forgotten: list[str], db: sqlite3.Connection
) -> list[tuple[str, int, int, int, float, str]]:
    rows = db.execute(
        "SELECT sender, size, unseen, held, expires, frame FROM frames WHERE recipient = ?"
        " ORDER BY id",
        (recipient,),
    ).fetchall()
    if rows:
        db.execute("DELETE FROM frames WHERE recipient = ?", (recipient,))
    db.execute("INSERT OR REPLACE INTO seen_agents (did, at) VALUES (?, ?)", (recipient, now))
    _forget_agents(forgotten, db)
    return rows


def _hold(
    recipient: str, include_held: bool, now: float, forgotten: list[str], db: sqlite3.Connection
) -> list[tuple[int, str, int, int, int, float, str]]:
    rows = db.execute(
        "SELECT id, sender, size, unseen, held, expires, frame FROM frames WHERE recipient = ?"
        + ("" if include_held else " AND held = 0")
        + " ORDER BY id",
        (recipient,),
    ).fetchall()
    expired = [(row[0],) for row in rows if row[5] <= now]
    if expired:
        db.executemany("DELETE FROM frames WHERE id = ?", expired)
    db.executemany(
        "UPDATE frames SET held = 1 WHERE id = ?", [(row[0],) for row in rows if row[5] > now]
    )
    db.execute("INSERT OR REPLACE INTO seen_agents (did, at) VALUES (?, ?)", (recipient, now))
    _forget_agents(forgotten, db)
    return rows


def _row_ids(tokens: list[str]) -> list[int]:
    return [int(token) for token in tokens if token.isascii() and token.isdigit()]


def _settle(recipient: str, ids: list[int], db: sqlite3.Connection) -> None:
    db.executemany(
        "DELETE FROM frames WHERE id = ? AND recipient = ? AND held = 1",
        [(row_id, recipient) for row_id in ids],
    )


def _unhold(recipient: str, ids: list[int], db: sqlite3.Connection) -> list[tuple[str, int, int]]:
    rows: list[tuple[str, int, int]] = []
    for row_id in ids:
        rows.extend(
            db.execute(
                "UPDATE frames SET held = 0 WHERE id = ? AND recipient = ? AND held = 1"
                " RETURNING sender, size, unseen",
                (row_id, recipient),
            ).fetchall()
        )
    return rows


def _forget_agents(dids: list[str], db: sqlite3.Connection) -> None:
    if dids:
        db.executemany("DELETE FROM seen_agents WHERE did = ?", [(did,) for did in dids])


def _expire(now: float, db: sqlite3.Connection) -> tuple[list[_Expired], float | None]:
    due = db.execute(
        "SELECT id, recipient, sender, size, unseen, held FROM frames WHERE expires <= ?"
        " ORDER BY expires LIMIT ?",
        (now, EXPIRE_BATCH),
    ).fetchall()
    if due:
        db.executemany("DELETE FROM frames WHERE id = ?", [(row[0],) for row in due])
    db.execute(
        "DELETE FROM replay WHERE digest IN (SELECT digest FROM replay WHERE expires <= ? LIMIT ?)",
        (now, EXPIRE_BATCH),
    )
    (following,) = db.execute("SELECT MIN(expires) FROM frames").fetchone()
    return [row[1:] for row in due], following
