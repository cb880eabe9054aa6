"""A real gateway served in the running event loop of the test, on a free loopback port.

>>> async with serve_in_loop(Settings(agent_timeout=2)) as served:
...     client = await RawClient.connect(served.ws_url)
...     served.app.hub.sessions          # the gateway's state, read directly

The same server the console script runs (``create_app``, ``uvicorn_config``,
``GatewayServer``), on a socket bound to port 0. Blocking calls to it from the test would
stop the loop that serves it: tests that make them use ``support.inprocess``.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiconexus.protocol import Identity
from aiconexus_gateway.app import GatewayApp, create_app
from aiconexus_gateway.server import GatewayServer, uvicorn_config
from aiconexus_gateway.settings import Settings

__all__ = ["ServedGateway", "loopback_socket", "serve_in_loop"]

START_TIMEOUT_S = 20.0


def loopback_socket() -> socket.socket:
    """A TCP socket bound to a free port of 127.0.0.1 (port 0: no race with other tests)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@dataclass
class ServedGateway:
    """A gateway served in the test's loop by :func:`serve_in_loop`."""

    app: GatewayApp
    server: GatewayServer
    port: int

    @property
    def ws_url(self) -> str:
        """``ws://127.0.0.1:<port>/ws``."""
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def http_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"


@asynccontextmanager
async def serve_in_loop(settings: Settings, **overrides: Any) -> AsyncIterator[ServedGateway]:
    """Serve a gateway with ``settings`` in the running loop on a free loopback port.

    The port of ``settings`` is ignored (a free one is bound); the gateway key is a new one.
    On exit the server shuts down as on SIGTERM (drain, close 1001).
    """
    sock = loopback_socket()
    port = int(sock.getsockname()[1])
    settings = settings.replace(gateway_port=port)
    app = create_app(settings, Identity.generate())
    server = GatewayServer(uvicorn_config(settings, app, **overrides))
    serving = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(START_TIMEOUT_S):
            while not server.started:
                if serving.done():
                    serving.result()  # raises the start-up's error
                    raise RuntimeError("the gateway stopped while starting")
                await asyncio.sleep(0.005)
        yield ServedGateway(app, server, port)
    finally:
        server.should_exit = True
        try:
            await serving
        finally:
            sock.close()
