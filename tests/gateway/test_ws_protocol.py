"""The WebSocket protocol of the gateway keeps little per idle connection, and still relays."""

from __future__ import annotations

import asyncio
from pathlib import Path

from support.client import RawClient
from support.ports import free_port
from support.waiting import eventually

from aiconexus.protocol import Identity
from aiconexus_gateway.app import create_app
from aiconexus_gateway.lean import LeanEvent, LeanQueue
from aiconexus_gateway.server import GatewayServer, uvicorn_config
from aiconexus_gateway.settings import Settings
from aiconexus_gateway.transport.ws_protocol import BatchingWebSocketProtocol


async def test_registered_connection_lets_go_of_the_handshake(tmp_path: Path) -> None:
    """After accept: lean queue and event, no request/response, no header list; frames flow."""
    settings = Settings(gateway_port=free_port(), gateway_key_file=tmp_path / "gateway.key")
    server = GatewayServer(uvicorn_config(settings, create_app(settings, Identity.generate())))
    serving = asyncio.create_task(server.serve())
    try:
        await eventually(lambda: server.started, within=10)
        url = f"ws://127.0.0.1:{settings.gateway_port}/ws"
        alice = await RawClient.connect(url)
        bob = await RawClient.connect(url)
        protocols = [
            p for p in server.server_state.connections if isinstance(p, BatchingWebSocketProtocol)
        ]
        assert len(protocols) == 2
        for protocol in protocols:
            assert isinstance(protocol.queue, LeanQueue)
            assert isinstance(protocol.writable, LeanEvent)
            assert protocol.upgrade is None  # request and 101 response let go
            assert protocol.scope is not None and protocol.scope["headers"] == []
        await alice.send_message("INTENT", bob.identity.did, {"query": "still relays"})
        received = await bob.expect("INTENT")
        assert received.payload == {"query": "still relays"}
        await alice.close()
        await bob.close()
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 10)
