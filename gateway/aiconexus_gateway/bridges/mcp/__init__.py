"""The MCP bridge: every capability of the gateway's agents as a Model Context Protocol tool.

Built on the official ``mcp`` package's low-level server (no JSON-RPC of its own), as a
client of the gateway through the SDK's public API: the directory (``GET /agents``) gives
the tools (:mod:`.catalog`, :mod:`.names`, :mod:`.watcher`), each ``tools/call`` becomes
an EXEC_REQUEST signed by the caller's identity (:mod:`.calls`, :mod:`.server`). Transports:
stdio (:mod:`.stdio`, ``aiconexus mcp``) and Streamable HTTP at ``/mcp`` on the gateway.
Needs the ``mcp`` extra: ``pip install 'aiconexus-gateway[mcp]'``.
"""

from __future__ import annotations

try:
    import mcp as _mcp  # noqa: F401
except ImportError as exc:  # pragma: no cover - the dev environment has every extra
    raise ImportError(
        "the MCP bridge needs the mcp package: pip install 'aiconexus-gateway[mcp]'"
    ) from exc

from .calls import DEFAULT_MAX_ARGS_BYTES, MAX_ARGS_DEPTH, BadCall, call_tool, check_arguments
from .catalog import ANY_OBJECT, Catalog, ToolEntry
from .names import MAX_TOOL_NAME, tool_name
from .server import DID_META, WAIT_META, IdentityFor, McpBridge
from .stdio import serve_stdio
from .watcher import ToolWatcher

__all__ = [
    "ANY_OBJECT",
    "DEFAULT_MAX_ARGS_BYTES",
    "DID_META",
    "MAX_ARGS_DEPTH",
    "MAX_TOOL_NAME",
    "WAIT_META",
    "BadCall",
    "Catalog",
    "ToolWatcher",
    "IdentityFor",
    "McpBridge",
    "ToolEntry",
    "call_tool",
    "check_arguments",
    "serve_stdio",
    "tool_name",
]
