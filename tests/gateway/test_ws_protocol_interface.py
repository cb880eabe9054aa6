"""The WebSocket protocol: what it reads of uvicorn, and the ASGI behaviour it implements.

The gateway's HTTP protocol (uvicorn's ``http`` option) hands it an upgrade request with
uvicorn's config and server state; everything else (handshake answers, fragments, shutdown)
it does itself over websockets' sans-I/O core.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import uvicorn
from support.client import RawClient
from support.in_loop import loopback_socket, serve_in_loop
from support.waiting import eventually
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from aiconexus_gateway.settings import Settings
from aiconexus_gateway.transport import (
    http_cycle,
    http_guard,
    http_protocol,
    ws_handshake,
    ws_keepalive,
    ws_protocol,
)
from aiconexus_gateway.transport.http_protocol import HttpProtocol
from aiconexus_gateway.transport.ws_protocol import UVICORN_INTERFACE, BatchingWebSocketProtocol

App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def _imported_modules(module: Any) -> set[str]:
    tree = ast.parse(inspect.getsource(module))
    names = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    return names | {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }


def test_no_uvicorn_internal_is_used() -> None:
    """No class of uvicorn among the protocols' bases; their modules import nothing of uvicorn."""
    for protocol in (BatchingWebSocketProtocol, HttpProtocol):
        bases = [cls.__module__ for cls in protocol.__mro__]
        assert [name for name in bases if name.startswith("uvicorn")] == []
    for module in (ws_protocol, ws_handshake, ws_keepalive, http_protocol, http_cycle, http_guard):
        assert [name for name in _imported_modules(module) if name.startswith("uvicorn")] == []


async def test_uvicorn_has_what_the_protocols_read() -> None:
    """The protocols serve /ws under uvicorn; its config and server state have every name read."""
    async with serve_in_loop(Settings()) as served:
        client = await RawClient.connect(served.ws_url)
        state = served.server.server_state
        assert [type(p) for p in state.connections] == [BatchingWebSocketProtocol]
        holders = {"config": served.server.config, "server_state": state}
        missing = [
            f"{holder}.{name}"
            for interface in (UVICORN_INTERFACE, http_protocol.UVICORN_INTERFACE)
            for holder, names in interface.items()
            for name in names
            if not hasattr(holders[holder], name)
        ]
        assert missing == [], f"uvicorn lacks {missing}: bound uvicorn to releases that have them"
        await client.close()


@asynccontextmanager
async def _serving(app: App) -> AsyncIterator[tuple[str, uvicorn.Server]]:
    """``app`` served by uvicorn with the gateway's protocols; yields (url, server)."""
    sock = loopback_socket()
    config = uvicorn.Config(
        app, http=HttpProtocol, ws="none", lifespan="off", log_config=None, ws_ping_interval=None
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await eventually(lambda: server.started, within=10)
        yield f"ws://127.0.0.1:{sock.getsockname()[1]}/", server
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 10)
        sock.close()


async def _echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Accept, then send back each text message until the peer leaves."""
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    while (event := await receive())["type"] == "websocket.receive":
        await send({"type": "websocket.send", "text": event["text"]})


async def test_a_fragmented_message_arrives_whole() -> None:
    """A text message sent in three fragments reaches the application as one message."""
    async with _serving(_echo) as (url, _), connect(url) as ws:
        await ws.send(["frag", "ment", "ed é"])
        assert await asyncio.wait_for(ws.recv(), 5) == "fragmented é"


async def test_uvicorn_shutdown_closes_1012() -> None:
    """When uvicorn stops it calls the protocol's shutdown: the peer gets 1012 (restart)."""
    async with _serving(_echo) as (url, server), connect(url) as ws:
        await ws.send("before")
        assert await asyncio.wait_for(ws.recv(), 5) == "before"
        server.should_exit = True
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012


async def _deny(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Refuse with an HTTP 401 whose body comes in two parts."""
    await receive()
    headers = [(b"content-type", b"text/plain")]
    await send({"type": "websocket.http.response.start", "status": 401, "headers": headers})
    await send({"type": "websocket.http.response.body", "body": b"no ", "more_body": True})
    await send({"type": "websocket.http.response.body", "body": b"entry"})


async def _close_first(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Close before accepting."""
    await receive()
    await send({"type": "websocket.close"})


async def _fail(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Raise before accepting."""
    await receive()
    raise ValueError("the application failed")


@pytest.mark.parametrize(
    ("app", "status", "body"),
    [(_deny, 401, b"no entry"), (_close_first, 403, b""), (_fail, 500, b"Internal Server Error")],
)
async def test_an_upgrade_refused_gets_an_http_response(app: App, status: int, body: bytes) -> None:
    """An HTTP response of the application's (ASGI extension), 403 for close, 500 for a crash."""
    async with _serving(app) as (url, _):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url):
                pass
        assert refused.value.response.status_code == status
        assert refused.value.response.body == body
