"""The A2A bridge's HTTP application: one A2A agent per DID under its mount point.

Mounted at ``/a2a`` (inside the gateway, or by the standalone server):

* ``GET  /a2a/agents``: the directory of cards (paged, ``capability`` search, like
  ``/agents``; protected by the gateway's AGENTS_TOKEN when it has one);
* ``GET  /a2a/<DID>/.well-known/agent-card.json``: agent ``DID``'s card (public);
* ``POST /a2a/<DID>``: A2A over JSON-RPC; ``/a2a/<DID>/message:send``, ``/tasks/...``:
  A2A over HTTP+JSON. Both are a2a-sdk's own dispatchers over
  :class:`.handler.BridgeRequestHandler`.

Every call to an agent needs ``Authorization: Bearer <token>`` of a caller (BRIDGE_TOKENS),
unless anonymous callers are allowed. Refusals before dispatch are typed A2A errors in
the body shape of the binding used (a JSON-RPC error, HTTP 200 as JSON-RPC answers errors;
or ``google.rpc.Status`` for HTTP+JSON): unknown DID (HTTP+JSON 404), a body over the size
limit (413), missing or wrong token (HTTP 401 for both bindings, ``WWW-Authenticate: Bearer``).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from a2a.server.context import ServerCallContext
from a2a.server.request_handlers.response_helpers import build_error_response
from a2a.server.routes import (
    DefaultServerCallContextBuilder,
    create_jsonrpc_routes,
    create_rest_routes,
)
from a2a.utils.error_handlers import build_rest_error_payload
from a2a.utils.errors import A2AError, InvalidParamsError, InvalidRequestError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import BaseRoute, Router

from aiconexus import is_valid_did

from ...guards.operator_auth import token_matches
from ..callers import Callers, Refusal
from .cards import AgentCards
from .handler import BridgeRequestHandler

__all__ = ["A2AApp", "MAX_BODY_BYTES"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

MAX_BODY_BYTES = 1024 * 1024
"""Largest request body accepted (the gateway's default MAX_MESSAGE_SIZE)."""

CARD_PATH = "/.well-known/agent-card.json"
_SCOPE_KEY = "aiconexus.a2a"


class _ContextBuilder(DefaultServerCallContextBuilder):
    """a2a-sdk's context builder, plus the agent and caller the bridge resolved."""

    def build(self, request: Request) -> ServerCallContext:
        context = super().build(request)
        context.state.update(request.scope.get(_SCOPE_KEY, {}))
        headers = context.state.get("headers")
        if isinstance(headers, dict):
            headers.pop("authorization", None)  # the bearer token stays out of the context
        return context


class A2AApp:
    """The ASGI application mounted at ``/a2a`` (see the module)."""

    def __init__(
        self,
        handler: BridgeRequestHandler,
        callers: Callers,
        cards: AgentCards,
        *,
        directory_token: str | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.handler = handler
        self.callers = callers
        self.cards = cards
        self.directory_token = directory_token
        self.max_body_bytes = max_body_bytes
        builder = _ContextBuilder()
        routes: list[BaseRoute] = []
        routes += create_jsonrpc_routes(handler, rpc_url="/", context_builder=builder)
        routes += create_rest_routes(handler, context_builder=builder)
        self._agent_router = Router(routes=routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one HTTP request under the mount point."""
        if scope["type"] != "http":
            return
        root = scope.get("root_path", "")
        path: str = scope["path"]
        rest = path[len(root) :] if root and path.startswith(root) else path
        did, _, tail = rest.lstrip("/").partition("/")
        tail = "/" + tail
        jsonrpc = scope["method"] == "POST" and tail == "/"
        if did == "agents" and tail == "/":
            await self._directory(scope, receive, send)
            return
        if not is_valid_did(did):
            problem = InvalidParamsError("not an agent DID", data={"code": "UNKNOWN_AGENT"})
            await _error(send, 404, problem, jsonrpc)
            return
        agent = await self.cards.agent(did)
        if agent is None:
            problem = InvalidParamsError(
                f"no agent {did} is known here", data={"code": "UNKNOWN_AGENT", "agent": did}
            )
            await _error(send, 404, problem, jsonrpc)
            return
        if tail == CARD_PATH and scope["method"] == "GET":
            await _json(send, 200, agent.card.encode())
            return
        caller = self.callers.authenticate(_header(scope, b"authorization"))
        if isinstance(caller, Refusal):
            await _error(
                send,
                401,
                InvalidRequestError(str(caller), data={"code": "UNAUTHENTICATED"}),
                jsonrpc,
                {"www-authenticate": 'Bearer realm="a2a"'},
            )
            return
        length = _header(scope, b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            too_large = InvalidRequestError(
                f"the body exceeds {self.max_body_bytes} bytes", data={"code": "MESSAGE_TOO_LARGE"}
            )
            await _error(send, 413, too_large, jsonrpc)
            return
        child = dict(scope)
        child["root_path"] = f"{root}/{did}"
        if tail == "/" and not path.endswith("/"):
            child["path"] = path + "/"
        child[_SCOPE_KEY] = {"agent": did, "caller": caller, "encrypt": agent.encrypt}
        await self._agent_router(child, _bounded(receive, self.max_body_bytes), send)

    async def _directory(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        token = self.directory_token
        if token is not None and not token_matches(request.headers.get("authorization"), token):
            headers = {"www-authenticate": "Bearer"}
            await _json(send, 401, b'{"detail":"a bearer token is required"}', headers)
            return
        query = request.query_params
        try:
            limit = int(query.get("limit", "100"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 1000:
            await _json(send, 422, b'{"detail":"limit must be between 1 and 1000"}')
            return
        cursor = query.get("cursor")
        capability = query.get("capability")
        if (cursor is not None and len(cursor) > 200) or (
            capability is not None and len(capability) > 128
        ):
            await _json(send, 422, b'{"detail":"cursor or capability too long"}')
            return
        page = await self.cards.page(capability, cursor, limit)
        body = {"agents": page.agents, "next_cursor": page.next_cursor}
        await _json(send, 200, json.dumps(body, separators=(",", ":")).encode())


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _bounded(receive: Receive, limit: int) -> Receive:
    """``receive`` that stops a chunked body over ``limit`` bytes (HTTP 413)."""
    seen = 0

    async def bounded() -> MutableMapping[str, Any]:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise HTTPException(status_code=413)
        return message

    return bounded


async def _json(
    send: Send, status: int, body: bytes, headers: dict[str, str] | None = None
) -> None:
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def _error(
    send: Send,
    status: int,
    error: A2AError,
    jsonrpc: bool,
    headers: dict[str, str] | None = None,
) -> None:
    """A typed A2A error: a JSON-RPC error response, or the HTTP+JSON error body."""
    if jsonrpc:
        body = build_error_response(None, error)
        if status != 401:
            status = 200  # JSON-RPC reports errors in the body, as a2a-sdk's server does
    else:
        body = build_rest_error_payload(error)
        body["error"]["code"] = status
    await _json(send, status, json.dumps(body, separators=(",", ":")).encode(), headers)
