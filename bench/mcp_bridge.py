"""What the MCP bridge costs: ``tools/call`` round trips/s vs SDK ``request()``, one run.

One verifying gateway (memory backend) with the MCP bridge embedded (``MCP_ENABLED``); an SDK
``Agent`` answers EXEC_REQUESTs for capability ``bench-echo``. The same number of calls,
``concurrency`` in flight, first as SDK ``request()`` from a ``GatewayClient``, then as
``tools/call`` from the ``mcp`` package's client over Streamable HTTP at ``/mcp`` (each
call: an HTTP request to the bridge, an EXEC_REQUEST signed by the caller's identity, the
answer back as an MCP result). Both clients and the agent run in this process.

Usage: ``python bench/mcp_bridge.py [--requests N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from processes import gateway

from aiconexus import Agent, GatewayClient, Identity, Message

__all__ = ["compare"]

TOKEN = "bench-token-0123456789abcdef"
ARGS = {"text": "q" * 300}


async def _rate(requests: int, concurrency: int, call: Callable[[], Awaitable[object]]) -> float:
    await call()  # warm up
    remaining = [requests]

    async def worker() -> None:
        while remaining[0] > 0:
            remaining[0] -= 1
            await call()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return requests / (time.perf_counter() - start)


async def _both(ws_url: str, requests: int, concurrency: int) -> tuple[float, float]:
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
        sdk = await _rate(requests, concurrency, lambda: client.request(agent.did, ARGS))
        async with asyncio.timeout(30):
            while "bench-echo" not in {t.name for t in (await mcp.list_tools()).tools}:  # noqa: ASYNC110
                await asyncio.sleep(0.2)  # the bridge reads /agents every 2 s
        tools = await _rate(requests, concurrency, lambda: mcp.call_tool("bench-echo", ARGS))
    return sdk, tools


def compare(requests: int, concurrency: int = 8) -> tuple[float, float]:
    """SDK request() and MCP tools/call round trips/s through one gateway, printed."""
    extra = {"MCP_ENABLED": "true", "BRIDGE_TOKENS": f"bench:{TOKEN}"}
    with gateway(verify=True, extra=extra) as service:
        sdk, tools = asyncio.run(_both(service.ws_url, requests, concurrency))
    print(f"{'SDK request() round trips':<34} {sdk:>9,.0f} /s", flush=True)
    print(f"{'MCP tools/call round trips':<34} {tools:>9,.0f} /s", flush=True)
    return sdk, tools


def main() -> None:
    """Print both rates and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000, help="calls per variant")
    args = parser.parse_args()
    sdk, tools = compare(args.requests)
    print(f"tools/call per request() {tools / sdk:6.2f}")


if __name__ == "__main__":
    main()
