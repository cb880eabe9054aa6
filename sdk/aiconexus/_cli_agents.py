"""``aiconexus agents``: the agents registered at a gateway (``GET /agents``): table or JSON."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from typing import Any

import httpx

from aiconexus._cli_common import (
    FailureError,
    Subcommands,
    UsageError,
    no_gateway_at,
    unreachable,
)
from aiconexus.directory import AgentInfo, http_base_url, list_agents

__all__ = ["add_agents_command"]


def add_agents_command(commands: Subcommands, gateway: str) -> None:
    """Add ``agents``."""
    agents = commands.add_parser("agents", help="list the agents registered at a gateway")
    agents.add_argument("--gateway", default=gateway, help=f"gateway URL (default {gateway})")
    agents.add_argument("--capability", help="only agents offering this capability")
    agents.add_argument("--json", action="store_true", help="print JSON instead of a table")
    agents.add_argument(
        "--token",
        default=os.environ.get("AICONEXUS_AGENTS_TOKEN") or None,
        help="bearer token for /agents (default $AICONEXUS_AGENTS_TOKEN)",
    )
    agents.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    return asyncio.run(_agents(args.gateway, args.capability, as_json=args.json, token=args.token))


async def _agents(url: str, capability: str | None, *, as_json: bool, token: str | None) -> int:
    try:
        http_base_url(url)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        agents = await list_agents(url, capability, token=token)
    except httpx.HTTPStatusError as exc:
        code = exc.response.status_code
        if code == 404:
            raise no_gateway_at(url, f"GET {exc.request.url} answered 404") from None
        hint = " (give the directory's token with --token)" if code == 401 else ""
        raise FailureError(f"the gateway answered {code}{hint}") from None
    except (ValueError, KeyError, TypeError):
        raise no_gateway_at(url, "GET /agents did not answer a gateway's JSON") from None
    except httpx.HTTPError as exc:
        raise unreachable(url, exc) from None
    if as_json:
        print(json.dumps([_agent_json(a) for a in agents], indent=2))
    elif not agents and capability is not None:
        print(f"no registered agent offers the capability {capability!r}")
    else:
        print(_table(agents))
    return 0


def _agent_json(agent: AgentInfo) -> dict[str, Any]:
    return {
        "did": agent.did,
        "capabilities": list(agent.capabilities),
        "metadata": agent.metadata,
        "connected_at": agent.connected_at,
        "last_seen": agent.last_seen,
    }


def _table(agents: list[AgentInfo]) -> str:
    if not agents:
        return "no agents registered"
    rows = [("DID", "CAPABILITIES", "NAME", "CONNECTED AT")]
    for agent in agents:
        name = agent.metadata.get("name", "")
        rows.append((agent.did, ",".join(agent.capabilities), str(name), agent.connected_at or ""))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(line.rstrip() for line in lines) + f"\n{len(agents)} agent(s)"
