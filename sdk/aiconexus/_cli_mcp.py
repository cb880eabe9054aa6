"""``aiconexus mcp``: the gateway's agents as MCP tools, over stdio, for desktop MCP clients.

The bridge itself is the gateway package's (``aiconexus_gateway.bridges.mcp``), installed
with ``pip install 'aiconexus-sdk[mcp]'``; calls are signed by the local identity.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from aiconexus._cli_common import (
    DEFAULT_KEY_FILE,
    FailureError,
    Subcommands,
    UsageError,
    load_identity,
)
from aiconexus.errors import GatewayUnreachableError
from aiconexus.protocol import IoapError

__all__ = ["add_mcp_parser", "run_mcp"]

INSTALL_HINT = "pip install 'aiconexus-sdk[mcp]'"
"""What to install for ``aiconexus mcp``."""


def add_mcp_parser(commands: Subcommands, gateway: str) -> None:
    """Add the ``mcp`` subcommand to ``commands`` (argparse subparsers), ``run`` set."""
    mcp = commands.add_parser(
        "mcp", help="serve the gateway's agents as MCP tools on stdin/stdout (for MCP clients)"
    )
    mcp.add_argument("--gateway", default=gateway, help=f"gateway URL (default {gateway})")
    mcp.add_argument(
        "--key", type=Path, default=DEFAULT_KEY_FILE, help=f"key file (default {DEFAULT_KEY_FILE})"
    )
    mcp.add_argument("--timeout", type=float, default=30.0, help="seconds per call (default 30)")
    mcp.add_argument(
        "--refresh",
        type=float,
        default=2.0,
        help="seconds between directory reads, besides one on each change event (default 2)",
    )
    mcp.add_argument(
        "--token",
        default=os.environ.get("AICONEXUS_AGENTS_TOKEN") or None,
        help="bearer token for /agents (default $AICONEXUS_AGENTS_TOKEN)",
    )
    mcp.set_defaults(run=run_mcp)


def run_mcp(args: argparse.Namespace) -> int:
    """Serve until the MCP client closes stdin; exit status as the other commands."""
    if args.timeout <= 0 or args.refresh <= 0:
        raise UsageError("--timeout and --refresh must be positive")
    identity = load_identity(args.key)
    try:
        from aiconexus_gateway.bridges.mcp import serve_stdio
    except ImportError as exc:
        raise UsageError(f"`aiconexus mcp` needs the MCP bridge: {INSTALL_HINT} ({exc})") from None
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    try:
        asyncio.run(
            serve_stdio(
                args.gateway,
                identity,
                refresh_s=args.refresh,
                call_timeout_s=args.timeout,
                agents_token=args.token,
            )
        )
    except (GatewayUnreachableError, OSError) as exc:
        raise FailureError(f"no gateway at {args.gateway}: {exc}") from None
    except IoapError as exc:
        raise FailureError(f"the gateway refused: {exc}") from None
    return 0
