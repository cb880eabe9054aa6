"""The bridge over stdio, for desktop MCP clients: ``aiconexus mcp --gateway ws://...``.

One identity (the local key file's) makes every call, through one connected client;
the MCP client starts this process and talks JSON-RPC on its stdin and stdout (logs go to
stderr).
"""

from __future__ import annotations

from typing import Any

from mcp.server.context import ServerRequestContext
from mcp.server.stdio import stdio_server

from aiconexus import Identity

from ..pool import ClientPool
from .calls import DEFAULT_MAX_ARGS_BYTES
from .server import McpBridge
from .watcher import ToolWatcher

__all__ = ["serve_stdio"]


async def serve_stdio(
    gateway_url: str,
    identity: Identity,
    *,
    refresh_s: float = 2.0,
    call_timeout_s: float = 30.0,
    max_args_bytes: int = DEFAULT_MAX_ARGS_BYTES,
    agents_token: str | None = None,
    client_options: dict[str, Any] | None = None,
) -> None:
    """Serve MCP on stdin/stdout until the client closes them; calls are signed by ``identity``.

    ``client_options`` go to :class:`aiconexus.GatewayClient` (``gateway_did`` ...). Raises
    :class:`aiconexus.GatewayUnreachableError` when the gateway cannot be reached at start.
    """
    pool = ClientPool(gateway_url, max_clients=1, **(client_options or {}))
    try:
        await pool.client(identity)  # connect now: an unreachable gateway is reported at once

        def identity_for(ctx: ServerRequestContext[Any, Any]) -> Identity:
            return identity

        watcher = ToolWatcher(gateway_url, interval_s=refresh_s, agents_token=agents_token)
        bridge = McpBridge(
            watcher,
            pool,
            identity_for,
            call_timeout_s=call_timeout_s,
            max_args_bytes=max_args_bytes,
        )
        await watcher.refresh()
        await watcher.start()
        try:
            async with stdio_server() as (read_stream, write_stream):
                options = bridge.server.create_initialization_options()
                await bridge.server.run(read_stream, write_stream, options)
        finally:
            await watcher.stop()
    finally:
        await pool.close()
