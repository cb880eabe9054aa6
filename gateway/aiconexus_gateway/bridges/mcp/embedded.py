"""The MCP bridge inside the gateway (``MCP_ENABLED=true``): Streamable HTTP at ``/mcp``.

Callers are ``BRIDGE_TOKENS`` (each with its own DID, :mod:`..callers`); the bridge reads the
gateway's directory and reaches its agents at the gateway's loopback URL, like any client.
"""

from __future__ import annotations

from ...settings import Settings
from ..callers import Callers, load_or_create_secret
from ..embed import gateway_ws_url
from ..pool import ClientPool
from .http import McpHttpBridge
from .watcher import ToolWatcher

__all__ = ["PATH", "EmbeddedMcp", "create"]

PATH = "/mcp"
"""Where the gateway serves the bridge."""


class EmbeddedMcp:
    """The bridge as the gateway runs it: ``path``, ``app``, ``start()``, ``stop()``."""

    path = PATH

    def __init__(self, bridge: McpHttpBridge) -> None:
        self.bridge = bridge
        self.app = bridge
        self._running = bridge.running()

    async def start(self) -> None:
        """Start reading the directory and serving sessions."""
        await self._running.__aenter__()

    async def stop(self) -> None:
        """Stop serving; close the callers' connections."""
        await self._running.__aexit__(None, None, None)


def create(settings: Settings, gateway_did: str) -> EmbeddedMcp:
    """The bridge ``settings`` describe, for the gateway whose DID is ``gateway_did``."""
    url = gateway_ws_url(settings)
    callers = Callers(
        dict(settings.bridge_tokens),
        load_or_create_secret(settings.bridge_secret_path),
        allow_anonymous=settings.bridge_allow_anonymous,
    )
    watcher = ToolWatcher(url, agents_token=settings.agents_token)
    pool = ClientPool(url, gateway_did=gateway_did)
    return EmbeddedMcp(McpHttpBridge(watcher, callers, pool))
