"""The bridge over Streamable HTTP (at ``/mcp`` on the gateway), callers by bearer token.

Every request must carry ``Authorization: Bearer <token>`` of one of ``BRIDGE_TOKENS``
(:class:`~aiconexus_gateway.bridges.callers.Callers`; without a token only when
``BRIDGE_ALLOW_ANONYMOUS``). Otherwise it is refused with HTTP 401, a JSON-RPC error body
(code -32001, "a bearer token is required" / "wrong bearer token") and
``WWW-Authenticate: Bearer``, before the MCP layer sees it. Each caller's calls are signed by
the caller's own identity (through the bridge's :class:`ClientPool`), so the gateway's
access policy and rate limits apply to each caller as to any agent. The transport itself is
the ``mcp`` package's :class:`StreamableHTTPSessionManager`, answering each POST with one
JSON body (``application/json``) rather than an SSE stream: a call sends no notifications on
its way, and the plain answer costs the bridge and the client less per call (the list changes
go out on the session's GET stream, or on ``subscriptions/listen``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp.server.context import ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from aiconexus import Identity

from ..callers import Callers, Refusal
from ..pool import ClientPool
from .calls import DEFAULT_MAX_ARGS_BYTES
from .server import McpBridge
from .watcher import ToolWatcher

__all__ = ["CALLER_STATE", "UNAUTHORIZED", "McpHttpBridge"]

CALLER_STATE = "aiconexus_caller"
"""The request-state attribute holding the authenticated caller's name."""


UNAUTHORIZED = -32001
"""JSON-RPC error code of a request without a valid bearer token."""


class McpHttpBridge:
    """An ASGI app serving MCP over Streamable HTTP for authenticated callers (see module).

    ``async with bridge.running():`` reads the directory and runs the session manager; the
    bridge object itself is the ASGI app to mount (at ``/mcp``).
    """

    def __init__(
        self,
        watcher: ToolWatcher,
        callers: Callers,
        pool: ClientPool,
        *,
        call_timeout_s: float = 30.0,
        max_args_bytes: int = DEFAULT_MAX_ARGS_BYTES,
        max_body_bytes: int = 4 * DEFAULT_MAX_ARGS_BYTES,
        max_sessions: int = 1000,
        session_idle_timeout_s: float = 600.0,
        logger: logging.Logger | None = None,
    ) -> None:
        self.watcher = watcher
        self.callers = callers
        self.pool = pool
        self.bridge = McpBridge(
            watcher,
            pool,
            self._identity_for,
            call_timeout_s=call_timeout_s,
            max_args_bytes=max_args_bytes,
            logger=logger,
        )
        self.manager = StreamableHTTPSessionManager(
            self.bridge.server,
            max_request_body_size=max_body_bytes,
            max_sessions=max_sessions,
            session_idle_timeout=session_idle_timeout_s,
            json_response=True,
        )

    @asynccontextmanager
    async def running(self) -> AsyncIterator[McpHttpBridge]:
        """Read the directory in the background and serve sessions while the block runs."""
        await self.watcher.start()
        try:
            async with self.manager.run():
                yield self
        finally:
            await self.watcher.stop()
            await self.pool.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI entry point: bearer check, then the ``mcp`` session manager."""
        if scope["type"] != "http":
            return
        caller = self.callers.authenticate(_authorization(scope))
        if isinstance(caller, Refusal):
            await _unauthorized(send, str(caller))
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        state[CALLER_STATE] = caller
        await self.manager.handle_request(scope, receive, send)

    def _identity_for(self, ctx: ServerRequestContext[Any, Any]) -> Identity:
        request = ctx.request
        caller = None
        if isinstance(request, Request):
            caller = getattr(request.state, CALLER_STATE, None)
        if not isinstance(caller, str):
            raise RuntimeError("an MCP request without an authenticated caller")
        return self.callers.identity(caller)


def _authorization(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            return bytes(value).decode("latin-1")
    return None


async def _unauthorized(send: Send, message: str) -> None:
    error = {"code": UNAUTHORIZED, "message": message}
    body = json.dumps({"jsonrpc": "2.0", "id": None, "error": error}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", b'Bearer realm="mcp"'),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
