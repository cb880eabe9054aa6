"""The live status page: ``GET /status`` (one self-contained HTML page), its data and events.

* ``GET /`` redirects to ``/status``.
* ``GET /status`` is the page (inline CSS and JavaScript, nothing fetched from elsewhere);
  it holds no data, so it is served without a token. Its Content-Security-Policy lets only
  its own script run (by hash).
* ``GET /status/summary`` is the current summary and the kept history, as JSON.
* ``GET /status/events`` is a Server-Sent Events stream: ``history`` first, then a
  ``summary`` event per second (totals and one chart point; never a list of agents).

The data routes take an authorisation dependency (see :func:`.auth.require_token`); the page
asks for the token on a 401, keeps it in ``sessionStorage`` and sends it as
``Authorization: Bearer <token>`` with every request, the event stream included.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import cache
from importlib.resources import files
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, StreamingResponse

from .sampler import Sampler

__all__ = ["AuthDependency", "page_headers", "status_page", "status_router"]

AuthDependency = Callable[[Request], Awaitable[None]]
"""A FastAPI dependency that raises HTTPException(401) when a request is not authorised."""

EVENT_WAIT_S = 2.0
"""Longest wait for a tick before the stream checks whether the gateway is stopping."""

_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


@cache
def status_page() -> str:
    """The HTML of the status page (shipped in this package)."""
    return files(__package__).joinpath("status_page.html").read_text(encoding="utf-8")


@cache
def page_headers() -> dict[str, str]:
    """The status page's headers; its CSP allows exactly the page's own inline script(s).

    Scripts are allowed by their SHA-256 (CSP level 2), never by ``'unsafe-inline'``: text
    injected into the page could not run. The hash is computed from the shipped page, so it
    follows any change to the script.
    """
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in _SCRIPT.findall(status_page())
    )
    return {
        "Cache-Control": "no-store",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
        f"script-src {hashes}; connect-src 'self'; img-src 'self' data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        "X-Content-Type-Options": "nosniff",
    }


def status_router(sampler: Sampler, *, auth: AuthDependency) -> APIRouter:
    """The routes of the status page; ``auth`` guards the data routes."""
    router = APIRouter()
    guarded = [Depends(auth)]

    @router.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        """The status page is the gateway's front page."""
        return RedirectResponse("/status", status_code=307)

    @router.get("/status", include_in_schema=False)
    async def page() -> HTMLResponse:
        """The live status page."""
        return HTMLResponse(status_page(), headers=page_headers())

    @router.get("/status/summary", dependencies=guarded)
    async def summary() -> JSONResponse:
        """Current totals and the kept points."""
        return JSONResponse({**sampler.summary(), "history": sampler.history()})

    @router.get("/status/events", dependencies=guarded)
    async def events() -> StreamingResponse:
        """Server-Sent Events: ``history``, then ``summary`` once a second."""
        return StreamingResponse(
            _event_stream(sampler),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return router


def _event(name: str, data: Any) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


async def _event_stream(sampler: Sampler) -> AsyncIterator[bytes]:
    yield b"retry: 2000\n\n"
    yield _event("history", {"points": sampler.history(), **sampler.summary()})
    while not sampler.node.stopping:
        if await sampler.next_tick(EVENT_WAIT_S):
            yield _event("summary", sampler.summary())
        elif sampler.closed:
            return
        else:
            yield b": keep-alive\n\n"
