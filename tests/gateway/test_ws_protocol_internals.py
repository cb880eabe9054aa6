"""uvicorn's protocol still has every internal the gateway's WebSocket protocol relies on."""

from __future__ import annotations

from support.client import RawClient
from support.in_loop import serve_in_loop

from aiconexus_gateway.settings import Settings
from aiconexus_gateway.ws_protocol import UVICORN_INTERNALS, BatchingWebSocketProtocol


async def test_a_live_connection_has_every_internal_used() -> None:
    """Each name in UVICORN_INTERNALS exists on a registered connection's protocol object."""
    async with serve_in_loop(Settings()) as served:
        client = await RawClient.connect(served.ws_url)
        protocols = [
            p
            for p in served.server.server_state.connections
            if isinstance(p, BatchingWebSocketProtocol)
        ]
        assert len(protocols) == 1
        missing = [name for name in UVICORN_INTERNALS if not hasattr(protocols[0], name)]
        assert missing == [], f"uvicorn's protocol lacks {missing}: bound uvicorn below it"
        await client.close()
