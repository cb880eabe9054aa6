"""Bridges inside the gateway process: mounted on its HTTP app, clients of its loopback URL.

With ``A2A_ENABLED=true`` (resp. ``MCP_ENABLED=true``) the gateway builds the bridge at
start-up (:func:`embedded_bridges`), serves its HTTP application under the bridge's path
(``/a2a``, ``/mcp``) and runs it for the gateway's lifetime. The bridge is a client of this
same gateway at its loopback URL, connecting lazily (on the first call, once the gateway
listens). Each bridge is found by a lazy import string, so a gateway without the extra
never imports it; an enabled bridge whose extra is missing stops the start-up with an
ImportError naming ``pip install 'aiconexus-gateway[<extra>]'``.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol

from ..settings import Settings

__all__ = ["BRIDGES", "EmbeddedBridge", "embedded_bridges", "gateway_ws_url"]

ASGIApp = Callable[
    [
        MutableMapping[str, Any],
        Callable[[], Awaitable[MutableMapping[str, Any]]],
        Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ],
    Awaitable[None],
]


class EmbeddedBridge(Protocol):
    """A bridge as the gateway runs it."""

    path: str
    """Where its HTTP application is mounted (``/a2a``)."""
    app: ASGIApp

    async def start(self) -> None:
        """Called once the gateway starts."""

    async def stop(self) -> None:
        """Called when the gateway stops."""


BRIDGES: dict[str, tuple[str, str]] = {
    "a2a": ("aiconexus_gateway.bridges.a2a.embedded:create", "a2a"),
    "mcp": ("aiconexus_gateway.bridges.mcp.embedded:create", "mcp"),
}
"""Bridge name -> (``module:function`` building it from Settings, the extra it needs)."""


def gateway_ws_url(settings: Settings) -> str:
    """The WebSocket URL of this gateway from its own host (loopback)."""
    return settings.loopback_url.replace("http://", "ws://", 1) + "/ws"


def _enabled(settings: Settings) -> list[str]:
    return [
        name for name, on in (("a2a", settings.a2a_enabled), ("mcp", settings.mcp_enabled)) if on
    ]


def embedded_bridges(settings: Settings, gateway_did: str) -> list[EmbeddedBridge]:
    """The bridges ``settings`` enable, built (not started)."""
    bridges = []
    for name in _enabled(settings):
        target, extra = BRIDGES[name]
        module_name, _, function = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            if exc.name is not None and exc.name.startswith("aiconexus_gateway"):
                raise
            raise ImportError(
                f"{name.upper()}_ENABLED needs the {extra} extra: "
                f"pip install 'aiconexus-gateway[{extra}]' ({exc})"
            ) from exc
        bridges.append(getattr(module, function)(settings, gateway_did))
    return bridges
