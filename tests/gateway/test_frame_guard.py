"""The last-resort guard of the connection handler, driven in-process over plain ASGI.

No input is known to make the router raise (that is the point of the guard), so the router
here is the real one with its ``handle`` replaced by one that fails on a marked frame.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from aiconexus.protocol import Identity, Message, MessageType
from aiconexus_gateway.backend import create_backend
from aiconexus_gateway.routing.connection import ConnectionHandler
from aiconexus_gateway.routing.hub import Hub
from aiconexus_gateway.routing.parts import build_parts
from aiconexus_gateway.routing.router import Router
from aiconexus_gateway.routing.session import Session
from aiconexus_gateway.settings import Settings


class _FailingRouter(Router):
    async def handle(
        self, session: Session, text: str, previous: asyncio.Future[None] | None = None
    ) -> None:
        if "boom" in text:
            raise TypeError("a bug in the frame path")
        await super().handle(session, text, previous)


async def test_a_failing_frame_is_answered_internal_error_and_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """INTERNAL_ERROR (correlated) per failing frame, the connection goes on, one log line."""
    settings = Settings(gateway_key_file=tmp_path / "gateway.key")
    parts = build_parts(settings, Identity.generate(), create_backend(settings), crypto_threads=0)
    hub = Hub(parts)
    serve = ConnectionHandler(parts, hub, _FailingRouter(parts, hub, hub.replies), hub.replies)
    await hub.start()
    incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outgoing: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def receive() -> dict[str, Any]:
        return await incoming.get()

    async def send(message: Any) -> None:
        await outgoing.put(dict(message))

    async def next_frame() -> dict[str, Any]:
        while True:
            event = await asyncio.wait_for(outgoing.get(), 5)
            if event["type"] == "websocket.send":
                frame: dict[str, Any] = json.loads(event["text"])
                return frame

    scope = {"type": "websocket", "path": "/ws", "subprotocols": [], "client": ("127.0.0.1", 1)}
    me = Identity.generate()
    task = asyncio.create_task(serve(scope, receive, send))
    try:
        await incoming.put({"type": "websocket.connect"})
        assert (await asyncio.wait_for(outgoing.get(), 5))["type"] == "websocket.accept"
        challenge = await next_frame()
        payload = {"nonce": challenge["payload"]["nonce"], "capabilities": [], "metadata": {}}
        register = Message.create(me, MessageType.REGISTER, hub.did, payload)
        await incoming.put({"type": "websocket.receive", "text": register.to_json()})
        assert (await next_frame())["type"] == "REGISTERED"
        with caplog.at_level(logging.ERROR, logger="aiconexus.gateway"):
            for index in range(5):
                frame = Message.create(me, MessageType.PING, hub.did, {"sequence": index})
                text = frame.to_json().replace('"PING"', '"PING","x":"boom"')
                await incoming.put({"type": "websocket.receive", "text": text})
                error = await next_frame()
                assert error["payload"]["code"] == "INTERNAL_ERROR"
                assert error["correlation_id"] == frame.id
        ping = Message.create(me, MessageType.PING, hub.did, {})
        await incoming.put({"type": "websocket.receive", "text": ping.to_json()})
        assert (await next_frame())["type"] == "PONG"
        assert not task.done()
        lines = [r for r in caplog.records if "handling a frame failed" in r.getMessage()]
        assert len(lines) <= 1 and not any(r.exc_info for r in caplog.records)
        assert parts.metrics.internal_errors == 5
    finally:
        await incoming.put({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait_for(task, 5)
        await hub.stop()
