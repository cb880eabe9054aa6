"""``HEAD`` answered as ``GET`` (RFC 9110 9.3.2): same status and headers, no body.

FastAPI routes declared with ``GET`` answer ``HEAD`` with 405; monitoring probes and
``curl -I`` ask with ``HEAD``. :func:`serve_head` runs the ``GET`` route and sends only its
response start and an empty end, then stops a streamed body (the status page's event
stream would otherwise never end).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from .asgi import ASGIApp, ASGIReceive, ASGISend

__all__ = ["serve_head"]


class _Answered(Exception):
    """Raised into the app once the HEAD answer is complete, to stop a streamed body."""


async def serve_head(
    app: ASGIApp, scope: MutableMapping[str, Any], receive: ASGIReceive, send: ASGISend
) -> None:
    """Serve the ``HEAD`` request ``scope`` with ``app``'s answer to the same ``GET``."""
    answered = False

    async def send_head(message: MutableMapping[str, Any]) -> None:
        nonlocal answered
        if answered:
            raise _Answered
        if message["type"] == "http.response.body":
            answered = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            if message.get("more_body", False):
                raise _Answered
            return
        await send(message)

    try:
        await app({**scope, "method": "GET"}, receive, send_head)
    except* _Answered:
        pass
