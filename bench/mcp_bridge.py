"""What the MCP bridge costs: ``tools/call`` round trips/s vs SDK ``request()``, one run.

One verifying gateway (memory backend) with the MCP bridge embedded (``MCP_ENABLED``); an SDK
``Agent`` answers EXEC_REQUESTs for capability ``bench-echo``. The same number of calls,
``concurrency`` in flight, first as SDK ``request()`` from a ``GatewayClient``, then as
``tools/call`` from the ``mcp`` package's client over Streamable HTTP at ``/mcp`` (each
call: an HTTP request to the bridge, an EXEC_REQUEST signed by the caller's identity, the
answer back as an MCP result), in alternating rounds. Both clients and the agent run in this
process; besides the rates it prints the CPU time per call of the gateway process (which
holds the bridge) and of this one.

Usage: ``python bench/mcp_bridge.py [--requests N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from processes import gateway
from rounds import Side, alternate

from aiconexus import Agent, GatewayClient, Identity, Message

__all__ = ["Side", "compare"]

TOKEN = "bench-token-0123456789abcdef"
ARGS = {"text": "q" * 300}


async def _both(
    ws_url: str, requests: int, concurrency: int, gateway_cpu: Callable[[], float]
) -> tuple[Side, Side]:
    agent = Agent(Identity.generate(), capabilities=["bench-echo"])

    @agent.on("EXEC_REQUEST")
    async def echo(message: Message) -> object:
        return message.payload["args"]

    mcp_url = ws_url.removesuffix("/ws").replace("ws://", "http://", 1) + "/mcp"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        agent.connect(ws_url),
        GatewayClient(ws_url, Identity.generate()) as client,
        httpx2.AsyncClient(headers=headers) as http,
        Client(streamable_http_client(mcp_url, http_client=http)) as mcp,
    ):

        async def sdk_call() -> object:
            return await client.request(agent.did, ARGS)

        async def mcp_call() -> object:
            return await mcp.call_tool("bench-echo", ARGS)

        async with asyncio.timeout(30):
            while "bench-echo" not in {t.name for t in (await mcp.list_tools()).tools}:  # noqa: ASYNC110
                await asyncio.sleep(0.05)  # until the bridge has read the agent's arrival
        await sdk_call()  # warm up both
        await mcp_call()
        return await alternate(
            requests, [sdk_call] * concurrency, [mcp_call] * concurrency, gateway_cpu
        )


def compare(requests: int, concurrency: int = 8) -> tuple[float, float]:
    """SDK request() and MCP tools/call round trips/s through one gateway, printed."""
    extra = {"MCP_ENABLED": "true", "BRIDGE_TOKENS": f"bench:{TOKEN}"}
    with gateway(verify=True, extra=extra) as service:
        sdk, tools = asyncio.run(_both(service.ws_url, requests, concurrency, service.cpu_seconds))
    for name, side in (("SDK request() round trips", sdk), ("MCP tools/call round trips", tools)):
        in_gateway, in_client = side.cpu_ms()
        print(
            f"{name:<34} {side.rate:>9,.0f} /s  (CPU per call: gateway {in_gateway:.2f} ms, "
            f"clients and agent {in_client:.2f} ms)",
            flush=True,
        )
    return sdk.rate, tools.rate


def main() -> None:
    """Print both rates and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000, help="calls per variant")
    args = parser.parse_args()
    sdk, tools = compare(args.requests)
    print(f"tools/call per request() {tools / sdk:6.2f}")


if __name__ == "__main__":
    main()
