"""One connected SDK client per caller identity: created lazily, bounded, closed when idle.

A bridge calls agents on behalf of its callers, each with its own identity
(:mod:`.callers`). :class:`ClientPool` keeps one :class:`aiconexus.GatewayClient` per
identity, opened on first use; at most ``max_clients`` are open, and one unused for
``idle_s`` seconds is closed (unless pinned: it still awaits answers to queued requests).

:meth:`ClientPool.request` sends a signed EXEC_REQUEST and maps what happens to a typed
:data:`Outcome`: :class:`Answered` (the EXEC_RESPONSE, or the peer's ERROR frame),
:class:`Queued` (the recipient is offline; its answer comes later), :class:`Refused` (the
gateway's ERROR: unknown agent, policy, rate limit ...), :class:`TimedOut` or
:class:`Unavailable` (no gateway, or the pool is full). Answers that arrive with nobody
waiting (to queued requests, or after a timeout) go to the pool's ``on_late`` callback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiconexus import (
    AIConexusError,
    ClientClosedError,
    GatewayClient,
    Identity,
    IoapError,
    Message,
    MessageType,
)

__all__ = [
    "Answered",
    "ClientPool",
    "LateAnswer",
    "Outcome",
    "Queued",
    "Refused",
    "TimedOut",
    "Unavailable",
    "exec_request",
]

logger = logging.getLogger("aiconexus.bridge")

LateAnswer = Callable[[Message], Awaitable[None]]
"""Called with an EXEC_RESPONSE or ERROR answering a request nobody waits for any more."""


@dataclass(frozen=True, slots=True)
class Answered:
    """The recipient answered: ``response`` is its EXEC_RESPONSE or ERROR frame (verified)."""

    response: Message


@dataclass(frozen=True, slots=True)
class Queued:
    """The gateway stored the request: the recipient is offline; ``on_late`` gets the answer."""

    request: Message


@dataclass(frozen=True, slots=True)
class Refused:
    """The gateway refused the request; ``error`` carries its code and message."""

    error: IoapError


@dataclass(frozen=True, slots=True)
class TimedOut:
    """The request was delivered and no answer came in time (a late one goes to ``on_late``)."""

    request: Message


@dataclass(frozen=True, slots=True)
class Unavailable:
    """The gateway cannot be reached, or every client slot is busy; ``reason`` says which."""

    reason: str


Outcome = Answered | Queued | Refused | TimedOut | Unavailable
"""What :meth:`ClientPool.request` returns."""

_ANSWERS = frozenset({MessageType.EXEC_RESPONSE, MessageType.ERROR})


def exec_request(
    identity: Identity,
    to: str,
    args: Mapping[str, Any],
    *,
    timeout_s: float,
    id: str | None = None,
    encrypt: bool = False,
) -> Message:
    """A signed EXEC_REQUEST from ``identity`` to ``to`` (``id``: the frame id to use)."""
    payload = {"args": dict(args), "timeout_ms": max(1, int(timeout_s * 1000))}
    return Message.create(identity, MessageType.EXEC_REQUEST, to, payload, id=id, encrypt=encrypt)


@dataclass
class _Entry:
    client: GatewayClient
    reader: asyncio.Task[None] | None = None
    last_used: float = field(default_factory=time.monotonic)
    busy: int = 0
    pinned: int = 0


class ClientPool:
    """Connected clients for caller identities (see the module).

    ``url``: the gateway's WebSocket URL. ``on_late``: where answers nobody waits for go.
    ``client_options`` are passed to each :class:`~aiconexus.GatewayClient`.
    """

    def __init__(
        self,
        url: str,
        *,
        on_late: LateAnswer | None = None,
        max_clients: int = 256,
        idle_s: float = 300.0,
        connect_timeout_s: float = 10.0,
        **client_options: Any,
    ) -> None:
        if max_clients < 1:
            raise ValueError("max_clients must be >= 1")
        self.url = url
        self.on_late = on_late
        self.max_clients = max_clients
        self.idle_s = idle_s
        self.connect_timeout_s = connect_timeout_s
        self._options = client_options
        self._entries: dict[str, _Entry] = {}
        self._opening: dict[str, asyncio.Future[_Entry]] = {}
        self._waiters: dict[str, asyncio.Future[Message]] = {}
        self._reaper: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._closed = False

    def __len__(self) -> int:
        return len(self._entries)

    # -- clients -----------------------------------------------------------------------------
    async def client(self, identity: Identity) -> GatewayClient:
        """The connected client of ``identity`` (opened now if needed).

        Raises :class:`~aiconexus.GatewayUnreachableError` (or the gateway's refusal) when it
        cannot connect, ``OverflowError`` when ``max_clients`` are open and none is idle.
        """
        return (await self._entry(identity)).client

    async def _entry(self, identity: Identity) -> _Entry:
        if self._closed:
            raise ClientClosedError("the client pool is closed")
        did = identity.did
        entry = self._entries.get(did)
        if entry is not None:
            entry.last_used = time.monotonic()
            return entry
        opening = self._opening.get(did)
        if opening is not None:
            return await asyncio.shield(opening)
        self._make_room()
        future: asyncio.Future[_Entry] = asyncio.get_running_loop().create_future()
        self._opening[did] = future
        client = GatewayClient(self.url, identity, **self._options)
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                await client.connect()
            entry = _Entry(client)
            entry.reader = asyncio.create_task(self._read(entry), name=f"bridge-reader-{did}")
            self._entries[did] = entry
            future.set_result(entry)
            self._start_reaper()
            return entry
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it
            with contextlib.suppress(Exception):
                await client.close()  # a connect cut short may have left a socket open
            raise
        finally:
            del self._opening[did]

    def _make_room(self) -> None:
        if len(self._entries) + len(self._opening) < self.max_clients:
            return
        idle = [
            (entry.last_used, did)
            for did, entry in self._entries.items()
            if entry.busy == 0 and entry.pinned == 0
        ]
        if not idle:
            raise OverflowError(f"all {self.max_clients} bridge clients are busy")
        _, did = min(idle)
        self._discard(did)

    def _discard(self, did: str) -> None:
        entry = self._entries.pop(did, None)
        if entry is not None:
            closing = asyncio.get_running_loop().create_task(self._close_entry(entry))
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)

    async def _close_entry(self, entry: _Entry) -> None:
        await entry.client.close()
        if entry.reader is not None:
            entry.reader.cancel()
            await asyncio.gather(entry.reader, return_exceptions=True)

    def _start_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.create_task(self._reap(), name="bridge-pool-reaper")

    async def _reap(self) -> None:
        while self._entries:
            await asyncio.sleep(max(self.idle_s / 4, 0.05))
            now = time.monotonic()
            for did, entry in list(self._entries.items()):
                closed = entry.client.state.value == "CLOSED"
                idle = entry.busy == 0 and entry.pinned == 0 and now - entry.last_used > self.idle_s
                if closed or idle:
                    self._discard(did)

    async def _read(self, entry: _Entry) -> None:
        """Route the answers a caller's client receives to their waiter, or to ``on_late``."""
        async for message in entry.client:
            if message.type not in _ANSWERS or message.correlation_id is None:
                logger.debug("bridge caller %s ignores %s", entry.client.did, message.type)
                continue
            waiter = self._waiters.pop(message.correlation_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(message)
            elif self.on_late is not None:
                try:
                    await self.on_late(message)
                except Exception:
                    logger.exception("handling the late answer %s failed", message.id)

    def pin(self, identity: Identity) -> None:
        """Keep ``identity``'s client open (it awaits an answer to a queued request)."""
        entry = self._entries.get(identity.did)
        if entry is not None:
            entry.pinned += 1

    def unpin(self, identity: Identity) -> None:
        """Undo one :meth:`pin`."""
        entry = self._entries.get(identity.did)
        if entry is not None and entry.pinned > 0:
            entry.pinned -= 1
            entry.last_used = time.monotonic()

    # -- requests ----------------------------------------------------------------------------
    async def request(self, request: Message, identity: Identity, *, timeout_s: float) -> Outcome:
        """Send ``request`` (signed by ``identity``) and wait up to ``timeout_s`` for its answer."""
        try:
            entry = await self._entry(identity)
        except OverflowError as exc:
            return Unavailable(str(exc))
        except IoapError as exc:
            return Refused(exc)
        except (AIConexusError, OSError, TimeoutError) as exc:
            return Unavailable(f"cannot connect to the gateway: {exc}")
        waiter: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._waiters[request.id] = waiter
        entry.busy += 1
        try:
            async with asyncio.timeout(timeout_s):
                status = await entry.client.send_message(request)
                if status == "queued":
                    return Queued(request)
                return Answered(await waiter)
        except IoapError as exc:
            return Refused(exc)
        except TimeoutError:
            return TimedOut(request)
        except ClientClosedError as exc:
            return Unavailable(f"the connection to the gateway closed: {exc}")
        finally:
            entry.busy -= 1
            entry.last_used = time.monotonic()
            if self._waiters.get(request.id) is waiter:
                del self._waiters[request.id]

    async def close(self) -> None:
        """Close every client (answers still on their way are then kept by the gateway)."""
        self._closed = True
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        entries = list(self._entries.values())
        self._entries.clear()
        await asyncio.gather(*(self._close_entry(e) for e in entries), return_exceptions=True)
        await asyncio.gather(*self._closing, return_exceptions=True)
