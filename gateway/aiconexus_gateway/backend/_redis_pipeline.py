"""Automatic pipelining on one raw RESP connection: the per-frame hot path of the backend.

Commands issued by concurrent coroutines during one event-loop iteration leave in one write;
replies come back in order and resolve each caller's future. Commands are executed in issue
order, which keeps per-pair frame order across ``PUBLISH``. Packing and parsing are hiredis's
C code, so a command costs a few microseconds of this process's time, not tens as through a
full client. A command unanswered after ``command_timeout`` seconds, or a lost connection,
fails every pending call with :class:`BackendUnavailableError`; the next call reconnects.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import time
from collections import deque
from collections.abc import Callable
from typing import Any, cast

import hiredis
from redis.asyncio import Redis
from redis.asyncio.connection import parse_url
from redis.exceptions import NoScriptError

from aiconexus_gateway.backend.base import BackendUnavailableError
from aiconexus_gateway.tasks import stop_task

__all__ = ["AutoPipeline", "Script"]

_Arg = str | int


def _pack(command: tuple[_Arg, ...]) -> bytes:
    # hiredis's stub types a command as a 1-tuple; any tuple of str/int/bytes is accepted.
    packed: bytes = hiredis.pack_command(cast(Any, command))
    return packed


class Script:
    """A Lua script called by its SHA1 digest, re-sent in full when Redis lost it."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode("utf-8")).hexdigest()

    async def run(self, client: Redis, *args: _Arg) -> Any:
        """Run the script once through a redis-py ``client`` (the non-pipelined paths)."""
        try:
            return await client.evalsha(self.sha, 0, *args)
        except NoScriptError:
            return await client.eval(self.source, 0, *args)


class _Protocol(asyncio.Protocol):
    """One connection: writes are coalesced per loop iteration, replies resolve in order."""

    def __init__(self, observe: Callable[[float], None] | None = None) -> None:
        self.observe = observe
        self.reader = hiredis.Reader(encoding="utf-8")
        self.waiters: deque[tuple[float, asyncio.Future[Any]]] = deque()
        self.transport: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()
        self.closed = self._loop.create_future()
        self._outgoing: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing asyncio.Transport
        self.transport = cast(asyncio.Transport, transport)

    def send(self, packed: bytes) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = self._loop.create_future()
        if not self._outgoing:
            self._loop.call_soon(self._flush)
        self._outgoing.append(packed)
        self.waiters.append((time.monotonic(), future))
        return future

    def _flush(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(self._outgoing))
        self._outgoing.clear()

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while True:
            reply = self.reader.gets()
            if reply is False:
                return
            if not self.waiters:  # a reply nobody asked for: the stream is out of step
                self.fail(BackendUnavailableError("unexpected reply from Redis"))
                return
            sent, future = self.waiters.popleft()
            if self.observe is not None:
                self.observe(time.monotonic() - sent)
            if not future.done():
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(BackendUnavailableError(f"connection to Redis lost: {exc!r}"))

    def fail(self, error: BaseException) -> None:
        """Fail every pending command and close."""
        while self.waiters:
            _, future = self.waiters.popleft()
            if not future.done():
                future.set_exception(error)
        if not self.closed.done():
            self.closed.set_result(None)
        if self.transport is not None:
            self.transport.abort()


class AutoPipeline:
    """Commands of concurrent callers share writes and round trips on one connection."""

    def __init__(self, url: str, *, connect_timeout: float, command_timeout: float) -> None:
        self._options = parse_url(url)
        self._tls = url.startswith("rediss://")
        self._connect_timeout = connect_timeout
        self._command_timeout = command_timeout
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Lock | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self.observe: Callable[[float], None] | None = None
        """Called with the seconds of each round trip (a metrics hook)."""

    def start(self) -> None:
        """Start the watchdog that fails commands stuck longer than the command timeout."""
        if self._watchdog is None:
            self._watchdog = asyncio.create_task(self._watch(), name="redis-autopipeline")

    async def close(self) -> None:
        """Stop the watchdog and close the connection (pending calls fail)."""
        await stop_task(self._watchdog)
        self._watchdog = None
        if self._protocol is not None:
            self._protocol.fail(BackendUnavailableError("gateway backend closed"))
            self._protocol = None

    async def call(self, *command: _Arg) -> Any:
        """Execute one command in the next write and return its reply."""
        reply = await self._send(command)
        if isinstance(reply, hiredis.ReplyError):
            raise BackendUnavailableError(f"gateway backend error: {reply}")
        return reply

    async def script(self, script: Script, *args: _Arg) -> Any:
        """Execute ``script`` with ``args`` in the next write and return its reply."""
        reply = await self._send(("EVALSHA", script.sha, 0, *args))
        if isinstance(reply, hiredis.ReplyError) and str(reply).startswith("NOSCRIPT"):
            reply = await self._send(("EVAL", script.source, 0, *args))
        if isinstance(reply, hiredis.ReplyError):
            raise BackendUnavailableError(f"gateway backend error: {reply}")
        return reply

    async def _send(self, command: tuple[_Arg, ...]) -> Any:
        protocol = self._protocol
        if protocol is None or protocol.closed.done():
            protocol = await self._connect()
        return await protocol.send(_pack(command))

    async def _connect(self) -> _Protocol:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._protocol is not None and not self._protocol.closed.done():
                return self._protocol
            try:
                async with asyncio.timeout(self._connect_timeout):
                    protocol = await self._open()
                    await self._handshake(protocol)
            except (OSError, TimeoutError, BackendUnavailableError) as exc:
                raise BackendUnavailableError(f"cannot reach Redis: {exc!r}") from exc
            self._protocol = protocol
            return protocol

    async def _open(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        options = self._options
        if "path" in options:
            _, protocol = await loop.create_unix_connection(self._new_protocol, options["path"])
        else:
            context = ssl.create_default_context() if self._tls else None
            _, protocol = await loop.create_connection(
                self._new_protocol,
                options.get("host", "localhost"),
                options.get("port", 6379),
                ssl=context,
            )
        return protocol

    def _new_protocol(self) -> _Protocol:
        return _Protocol(self.observe)

    async def _handshake(self, protocol: _Protocol) -> None:
        options = self._options
        steps: list[tuple[_Arg, ...]] = []
        if options.get("password"):
            user = options.get("username")
            steps.append(
                ("AUTH", user, options["password"]) if user else ("AUTH", options["password"])
            )
        if int(options.get("db") or 0):
            steps.append(("SELECT", int(options["db"])))
        for step in steps:
            reply = await protocol.send(_pack(step))
            if isinstance(reply, hiredis.ReplyError):
                protocol.fail(BackendUnavailableError(str(reply)))
                raise BackendUnavailableError(f"Redis refused {step[0]}: {reply}")

    async def _watch(self) -> None:
        interval = max(0.05, min(1.0, self._command_timeout / 4))
        while True:
            await asyncio.sleep(interval)
            protocol = self._protocol
            if protocol is None or not protocol.waiters:
                continue
            if time.monotonic() - protocol.waiters[0][0] > self._command_timeout:
                protocol.fail(BackendUnavailableError("Redis did not answer in time"))
