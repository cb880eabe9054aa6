"""Automatic pipelining: commands issued concurrently share one Redis round trip.

Every caller awaits its own result, but one writer task sends whatever is queued as one
pipeline on one connection. Commands are therefore executed in the order they were issued
(which keeps per-pair frame order across ``PUBLISH``), and under load a round trip carries
many frames' replay checks, owner look-ups and publishes at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from aiconexus_gateway.backend.base import BackendUnavailableError

__all__ = ["AutoPipeline", "Script"]

_MAX_BATCH = 512


class Script:
    """A Lua script called by its SHA1 digest, re-sent in full when Redis lost it."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode("utf-8")).hexdigest()

    def evalsha_args(self, args: tuple[str | int, ...]) -> tuple[str | int, ...]:
        """The command words of ``EVALSHA`` for ``args`` (no declared keys)."""
        return ("EVALSHA", self.sha, 0, *args)

    def eval_args(self, args: tuple[str | int, ...]) -> tuple[str | int, ...]:
        """The command words of ``EVAL`` for ``args``."""
        return ("EVAL", self.source, 0, *args)

    async def run(self, client: Redis, *args: str | int) -> Any:
        """Run the script once on ``client``."""
        try:
            return await client.execute_command(*self.evalsha_args(args))  # type: ignore[no-untyped-call]
        except NoScriptError:
            return await client.execute_command(*self.eval_args(args))  # type: ignore[no-untyped-call]


class _Pending:
    __slots__ = ("command", "future", "script", "script_args")

    def __init__(
        self,
        command: tuple[str | int, ...],
        future: asyncio.Future[Any],
        script: Script | None,
        script_args: tuple[str | int, ...],
    ) -> None:
        self.command = command
        self.future = future
        self.script = script
        self.script_args = script_args

    def fallback(self) -> tuple[str | int, ...]:
        """The command to re-run when Redis answered NOSCRIPT: the script in full."""
        if self.script is None:
            return self.command
        return self.script.eval_args(self.script_args)


class AutoPipeline:
    """Queue of commands flushed as pipelines by one writer task."""

    def __init__(self, client: Redis) -> None:
        self._client = client
        self._queue: list[_Pending] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the writer task."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="redis-autopipeline")

    async def close(self) -> None:
        """Stop the writer task and fail whatever is still queued."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for item in self._queue:
            if not item.future.done():
                item.future.set_exception(BackendUnavailableError("gateway backend closed"))
        self._queue.clear()

    async def call(self, *command: str | int) -> Any:
        """Execute one plain command in the next pipeline and return its reply."""
        return await self._enqueue(command, None, ())

    async def script(self, script: Script, *args: str | int) -> Any:
        """Execute ``script`` with ``args`` in the next pipeline and return its reply."""
        return await self._enqueue(script.evalsha_args(args), script, args)

    async def _enqueue(
        self, command: tuple[str | int, ...], script: Script | None, args: tuple[str | int, ...]
    ) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(command, future, script, args))
        self._wakeup.set()
        return await future

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                batch = self._queue[:_MAX_BATCH]
                del self._queue[:_MAX_BATCH]
                await self._flush(batch)

    async def _flush(self, batch: list[_Pending]) -> None:
        try:
            replies = await self._execute([item.command for item in batch])
            missing = [i for i, r in enumerate(replies) if isinstance(r, NoScriptError)]
            if missing:
                retried = await self._execute([batch[i].fallback() for i in missing])
                for i, reply in zip(missing, retried, strict=True):
                    replies[i] = reply
        except Exception as exc:  # any failure of the round trip fails the whole batch
            error = BackendUnavailableError(f"gateway backend unavailable: {exc!r}")
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(error)
            return
        for item, reply in zip(batch, replies, strict=True):
            if item.future.done():
                continue
            if isinstance(reply, Exception):
                item.future.set_exception(
                    BackendUnavailableError(f"gateway backend error: {reply}")
                )
            else:
                item.future.set_result(reply)

    async def _execute(self, commands: list[tuple[str | int, ...]]) -> list[Any]:
        if len(commands) == 1:
            try:
                return [await self._client.execute_command(*commands[0])]  # type: ignore[no-untyped-call]
            except NoScriptError as exc:
                return [exc]
        pipe = self._client.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        replies: list[Any] = await pipe.execute(raise_on_error=False)
        return replies
