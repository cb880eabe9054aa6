"""The MCP server of the bridge, on the official ``mcp`` package's low-level :class:`Server`.

``tools/list`` answers the :class:`ToolWatcher`'s current catalog; ``tools/call`` runs
:func:`call_tool` as the caller's identity (``identity_for``: the one local identity over
stdio, the caller's own over HTTP) through the bridge's :class:`ClientPool`. When the tools change,
every client hears of it: ``notifications/tools/list_changed`` on the connections of the
initialize-handshake era, and a ``ToolsListChanged`` event on the ``subscriptions/listen``
streams of the 2026-07-28 era.

What a caller may put in ``tools/call``'s ``_meta``:

* ``"aiconexus/did"``: the DID of the agent to call (it must offer the capability);
* ``"aiconexus/wait"``: ``true`` to wait (up to the call timeout) for an agent offering the
  tool to come online, instead of an immediate ``NO_AGENT_ONLINE``.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable
from typing import Any

import mcp_types as types
from mcp.server.connection import Connection
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.lowlevel import NotificationOptions, Server
from mcp.server.models import InitializationOptions
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler, ToolsListChanged
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from aiconexus import Capability, Identity

from ..pool import ClientPool
from .calls import DEFAULT_MAX_ARGS_BYTES, BadCall, call_tool, check_arguments, error_result
from .catalog import ToolEntry
from .watcher import ToolWatcher

__all__ = ["DID_META", "WAIT_META", "IdentityFor", "McpBridge"]

DID_META = "aiconexus/did"
"""``_meta`` key of ``tools/call`` naming the DID of the agent to call."""
WAIT_META = "aiconexus/wait"
"""``_meta`` key of ``tools/call``: true to wait for an agent offering the tool."""

IdentityFor = Callable[[ServerRequestContext[Any, Any]], Identity]
"""The identity one request's calls are made as (the caller's)."""


class _ToolsServer(Server[Any]):
    """A low-level server that announces ``tools.listChanged`` on every transport."""

    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        return super().create_initialization_options(
            notification_options or NotificationOptions(tools_changed=True),
            experimental_capabilities,
            extensions,
        )


class McpBridge:
    """Every capability of the gateway's agents as an MCP tool (see the module)."""

    def __init__(
        self,
        watcher: ToolWatcher,
        pool: ClientPool,
        identity_for: IdentityFor,
        *,
        call_timeout_s: float = 30.0,
        max_args_bytes: int = DEFAULT_MAX_ARGS_BYTES,
        name: str = "aiconexus",
        logger: logging.Logger | None = None,
    ) -> None:
        self.watcher = watcher
        self.pool = pool
        self.identity_for = identity_for
        self.call_timeout_s = call_timeout_s
        self.max_args_bytes = max_args_bytes
        self._logger = logger or logging.getLogger("aiconexus_gateway.bridges.mcp")
        self._connections: weakref.WeakSet[Connection] = weakref.WeakSet()
        self._bus = InMemorySubscriptionBus()
        self.server = _ToolsServer(
            name,
            version="0.1.0",
            instructions="Tools are the capabilities of the agents on an AIConexus gateway.",
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
            on_subscriptions_listen=ListenHandler(self._bus),
            get_tool_input_schema=self.input_schema,
        )
        self.server.middleware.append(self._track_session)
        watcher.on_change(self.tools_changed)

    async def tools_changed(self) -> None:
        """Tell every connected client that the tool list changed."""
        await self._bus.publish(ToolsListChanged())
        for connection in list(self._connections):
            try:  # best effort: a connection whose stream is gone drops it
                await connection.send_tool_list_changed()
            except Exception as exc:  # a failing client must not stop the others
                self._logger.debug("dropping an MCP connection: %r", exc)
                self._connections.discard(connection)

    async def _track_session(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        # The per-request ServerSession wraps the client's Connection, which lives as long as
        # the client stays connected: kept weakly, to send it tools/list_changed later.
        connection = getattr(ctx.session, "_connection", None)
        if isinstance(connection, Connection) and not _modern(connection):
            self._connections.add(connection)
        return await call_next(ctx)

    def tools(self) -> list[types.Tool]:
        """The current tools."""
        return [_tool(entry) for entry in self.watcher.catalog.tools.values()]

    def input_schema(self, name: str) -> dict[str, Any] | None:
        """The input schema of the tool ``name`` (None: no such tool).

        The ``mcp`` server checks a 2026-07-28 ``tools/call``'s ``Mcp-Param-*`` headers
        against it; without this lookup it would run the whole ``tools/list`` handler (and
        its middleware) on every call to find the one schema.
        """
        entry = self.watcher.catalog.get(name)
        return entry.input_schema if entry is not None else None

    async def _list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=self.tools())

    async def _call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        try:
            arguments = check_arguments(params.arguments, max_bytes=self.max_args_bytes)
        except BadCall as exc:
            raise MCPError(types.INVALID_PARAMS, f"tool {params.name!r}: {exc}") from None
        meta = dict(params.meta or {}) if params.meta is not None else {}
        did = meta.get(DID_META)
        if did is not None and not isinstance(did, str):
            raise MCPError(types.INVALID_PARAMS, f"_meta {DID_META!r} must be a DID string")
        deadline = time.monotonic() + self.call_timeout_s
        entry = await self._entry(params.name, wait=meta.get(WAIT_META) is True, until=deadline)
        if entry is None:
            raise MCPError(types.INVALID_PARAMS, f"unknown tool {params.name!r}")
        if not entry.dids:
            return error_result("NO_AGENT_ONLINE", f"no agent offering {params.name!r} came online")
        identity = self.identity_for(ctx)
        timeout = max(deadline - time.monotonic(), 0.001)
        return await call_tool(self.pool, identity, entry, arguments, did=did, timeout=timeout)

    async def _entry(self, name: str, *, wait: bool, until: float) -> ToolEntry | None:
        """The tool ``name``; when waiting, one that has agents, until the deadline."""
        entry = self.watcher.catalog.get(name)
        while wait and (entry is None or not entry.dids):
            left = until - time.monotonic()
            if left <= 0:
                return entry if entry is not None else _waited_for(name)
            await self.watcher.wait_for_change(left)  # the watcher reads every change
            entry = self.watcher.catalog.get(name)
        return entry


def _modern(connection: Connection) -> bool:
    """True on a 2026-07-28 connection (changes go to subscriptions/listen streams there)."""
    return connection.protocol_version in MODERN_PROTOCOL_VERSIONS


def _waited_for(name: str) -> ToolEntry:
    """A tool with no agent: what a call that waited in vain for ``name`` gets."""
    return ToolEntry(name, Capability(name), ())


def _tool(entry: ToolEntry) -> types.Tool:
    return types.Tool(
        name=entry.name,
        title=entry.capability.name if entry.capability.name != entry.name else None,
        description=entry.description,
        input_schema=entry.input_schema,
        meta={"aiconexus/capability": entry.capability.name},
    )
