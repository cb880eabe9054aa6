"""One SQLite connection in a thread of its own, committing the jobs given to it in groups.

The event loop never touches the database: it hands a job (a function of the connection) to
:meth:`SqliteWriter.run` and awaits its result. The thread takes every job waiting at that
moment (up to ``MAX_GROUP``), runs them in one transaction and commits once, then resolves
their futures on the loop with one call. Jobs that arrive while a commit is in progress wait
for the next one, so concurrent writers share commits and the cost per job stays small.
Jobs run in the order they were given.

The database is in WAL mode with ``synchronous=NORMAL``: a committed transaction survives a
crash or SIGKILL of the process (it is in the operating system's cache), not a power loss.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["MAX_GROUP", "SqliteWriter"]

logger = logging.getLogger("aiconexus.gateway")

MAX_GROUP = 512
"""Most jobs committed in one transaction."""

_T = TypeVar("_T")
_Job = tuple[Callable[[sqlite3.Connection], Any], "asyncio.Future[Any] | None"]
_Outcome = tuple["asyncio.Future[Any] | None", Any, BaseException | None]
_STOP = object()


class SqliteWriter:
    """The database thread of one SQLite file; start with :meth:`open`, end with :meth:`close`."""

    def __init__(self, path: Path, *, schema: str) -> None:
        self.path = path
        self._schema = schema
        self._jobs: queue.SimpleQueue[_Job | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.commits = 0

    async def open(self) -> None:
        """Open (or create) the file in WAL mode, create the schema, start the thread."""
        self._loop = asyncio.get_running_loop()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        ready: asyncio.Future[None] = self._loop.create_future()
        self._thread = threading.Thread(
            target=self._serve, args=(ready,), name="gateway-sqlite", daemon=True
        )
        self._thread.start()
        await ready

    def submit(self, job: Callable[[sqlite3.Connection], Any]) -> None:
        """Run ``job`` in the next group without waiting for it (errors are logged)."""
        self._jobs.put((job, None))

    def queue(self, job: Callable[[sqlite3.Connection], _T]) -> asyncio.Future[_T]:
        """Queue ``job`` for the next group; the future has its result once committed."""
        assert self._loop is not None, "SqliteWriter.open() was not awaited"
        future: asyncio.Future[_T] = self._loop.create_future()
        self._jobs.put((job, future))
        return future

    async def run(self, job: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``job`` in the next group; its result once that group is committed."""
        return await self.queue(job)

    async def close(self) -> None:
        """Commit what is queued, then stop the thread and close the connection."""
        thread = self._thread
        if thread is None:
            return
        self._jobs.put(_STOP)
        await asyncio.to_thread(thread.join)
        self._thread = None

    # the database thread ----------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA busy_timeout=5000")
        connection.executescript(self._schema)
        return connection

    def _serve(self, ready: asyncio.Future[None]) -> None:
        loop = self._loop
        assert loop is not None
        try:
            connection = self._connect()
        except Exception as exc:
            loop.call_soon_threadsafe(_settle, ready, None, exc)
            return
        loop.call_soon_threadsafe(_settle, ready, None, None)
        try:
            stopping = False
            while not stopping:
                group: list[_Job] = []
                item = self._jobs.get()
                while True:
                    if item is _STOP:
                        stopping = True
                        break
                    group.append(item)  # type: ignore[arg-type]
                    if len(group) >= MAX_GROUP:
                        break
                    try:
                        item = self._jobs.get_nowait()
                    except queue.Empty:
                        break
                if group:
                    self._commit(connection, group, loop)
        finally:
            connection.close()

    def _commit(
        self, connection: sqlite3.Connection, group: list[_Job], loop: asyncio.AbstractEventLoop
    ) -> None:
        outcomes: list[_Outcome] = []
        try:
            connection.execute("BEGIN IMMEDIATE")
            for job, future in group:
                try:
                    outcomes.append((future, job(connection), None))
                except sqlite3.Error as exc:
                    outcomes.append((future, None, exc))
            connection.execute("COMMIT")
            self.commits += 1
        except Exception as exc:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            outcomes = [(future, None, exc) for _job, future in group]
        for future, _result, error in outcomes:
            if future is None and error is not None:
                logger.error("SQLite write failed: %r", error)
        loop.call_soon_threadsafe(_settle_all, outcomes)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _settle_all(outcomes: list[_Outcome]) -> None:
    for future, result, error in outcomes:
        if future is not None:
            _settle(future, result, error)
