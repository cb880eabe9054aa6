"""Per-address budgets of plain HTTP: requests served at once, event streams open at once.

They are apart from the WebSocket budgets (:mod:`.iplimits`), so an address's
``/status/events`` streams or slow requests cannot lock its agents out, nor its agents its
``/health``. Over ``MAX_HTTP_PER_IP`` requests or ``MAX_EVENT_STREAMS_PER_IP`` streams at once
the answer is ``429 Too Many Requests`` (plain text, ``Retry-After: 1``). The address is the
ASGI scope's client: behind a trusted proxy, the one it forwarded (:mod:`.proxies`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .iplimits import IpLimits

__all__ = ["EVENT_STREAM_PATHS", "serve_http"]

EVENT_STREAM_PATHS = frozenset({"/status/events"})
"""Paths whose answer is a long-lived stream (counted against MAX_EVENT_STREAMS_PER_IP)."""

ASGIApp = Callable[
    [
        MutableMapping[str, Any],
        Callable[[], Awaitable[MutableMapping[str, Any]]],
        Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ],
    Awaitable[None],
]


async def serve_http(
    limits: IpLimits,
    app: ASGIApp,
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
    send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
) -> None:
    """Serve one HTTP request with ``app`` within its address's budget, or answer 429."""
    client = scope.get("client")
    ip = str(client[0]) if client else "unknown"
    stream = scope.get("path") in EVENT_STREAM_PATHS
    problem = limits.http_opened(ip, stream=stream)
    if problem is not None:
        await _too_many(send, problem)
        return
    try:
        await app(scope, receive, send)
    finally:
        limits.http_closed(ip, stream=stream)


async def _too_many(send: Callable[[MutableMapping[str, Any]], Awaitable[None]], why: str) -> None:
    body = (why + "\n").encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", b"1"),
        (b"cache-control", b"no-store"),
    ]
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body})
