"""``GET /agents/events``: word of each change of the directory, as Server-Sent Events.

A client that mirrors the directory (a bridge listing the agents' capabilities) learns of a
change as it happens instead of polling ``GET /agents``. The stream carries no agents, only
the fact of a change; the client then reads ``GET /agents`` again:

* first ``retry: 2000``, then ``event: changed`` with ``data: {"version": N}`` at once (the
  stream is live: read the directory now);
* then one ``changed`` event after each change made on this node: an agent registered
  (first time, or again with other capabilities) or left. Changes that come faster than the
  client reads are coalesced: ``version`` counts them all, the client gets the last;
* a ``: keep-alive`` comment after :data:`KEEP_ALIVE_S` seconds without a change.

Changes made on other nodes of a cluster are not announced here: a client also reads
``GET /agents`` now and then (the bridges every 2 s). The route takes the ``/agents`` token
(``AGENTS_TOKEN``); at most :data:`MAX_LISTENERS` streams are open at once, more are
answered 503 with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

__all__ = [
    "KEEP_ALIVE_S",
    "MAX_LISTENERS",
    "DirectoryChanges",
    "directory_events_router",
]

KEEP_ALIVE_S = 15.0
"""Seconds without a change after which the stream sends a keep-alive comment."""
MAX_LISTENERS = 64
"""Most event streams open at once on one node."""


class DirectoryChanges:
    """A counter of this node's directory changes that listeners can wait on.

    The hub calls :meth:`changed` once a registration is stored and once a departure is;
    each listener keeps only the last version it saw.
    """

    def __init__(self) -> None:
        self.version = 0
        self.listeners = 0
        self.closed = False
        self._changed = asyncio.Event()

    def changed(self) -> None:
        """One change happened: wake every listener."""
        self.version += 1
        self._changed.set()
        self._changed = asyncio.Event()

    def close(self) -> None:
        """The gateway stops: every stream ends."""
        self.closed = True
        self._changed.set()

    async def wait(self, seen: int, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a version after ``seen``; True if there is one."""
        if self.version != seen or self.closed:
            return self.version != seen
        event = self._changed
        try:
            async with asyncio.timeout(timeout):
                await event.wait()
        except TimeoutError:
            return False
        return self.version != seen


def _event(version: int) -> bytes:
    return b"event: changed\ndata: " + orjson.dumps({"version": version}) + b"\n\n"


async def _stream(changes: DirectoryChanges) -> AsyncIterator[bytes]:
    changes.listeners += 1
    try:
        seen = changes.version
        yield b"retry: 2000\n\n" + _event(seen)
        while not changes.closed:
            if await changes.wait(seen, KEEP_ALIVE_S):
                seen = changes.version
                yield _event(seen)
            elif not changes.closed:
                yield b": keep-alive\n\n"
    finally:
        changes.listeners -= 1


def directory_events_router(
    changes: DirectoryChanges, *, auth: Callable[[Request], Awaitable[None]]
) -> APIRouter:
    """The route ``GET /agents/events``, guarded by ``auth`` (the ``/agents`` token)."""
    router = APIRouter()

    @router.get("/agents/events", dependencies=[Depends(auth)])
    async def directory_events() -> Response:
        """Server-Sent Events: a ``changed`` event now and after each change of the directory."""
        if changes.listeners >= MAX_LISTENERS:
            return JSONResponse(
                {"detail": f"at most {MAX_LISTENERS} directory event streams are open"},
                status_code=503,
                headers={"Retry-After": "5"},
            )
        if changes.closed:
            return JSONResponse({"detail": "the gateway is stopping"}, status_code=503)
        return StreamingResponse(
            _stream(changes),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return router
