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
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from processes import gateway

from aiconexus import Agent, GatewayClient, Identity, Message

__all__ = ["Side", "compare"]

TOKEN = "bench-token-0123456789abcdef"
ARGS = {"text": "q" * 300}


ROUNDS = 4
"""The two variants take turns, a quarter of the calls each time, so that a change in the
machine's load during the run falls on both alike."""


@dataclass
class Side:
    """What one variant's calls took, summed over its rounds."""

    calls: int = 0
    seconds: float = 0.0
    gateway_cpu_s: float = 0.0
    client_cpu_s: float = 0.0

    @property
    def rate(self) -> float:
        """Round trips per second."""
        return self.calls / self.seconds

    def cpu_ms(self) -> tuple[float, float]:
        """CPU milliseconds per call: in the gateway process, in this (client) process."""
        return 1e3 * self.gateway_cpu_s / self.calls, 1e3 * self.client_cpu_s / self.calls


async def _round(
    side: Side,
    requests: int,
    concurrency: int,
    call: Callable[[], Awaitable[object]],
    gateway_cpu: Callable[[], float],
) -> None:
    remaining = [requests]

    async def worker() -> None:
        while remaining[0] > 0:
            remaining[0] -= 1
            await call()

    cpu, here, start = gateway_cpu(), time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    side.seconds += time.perf_counter() - start
    side.gateway_cpu_s += gateway_cpu() - cpu
    side.client_cpu_s += time.process_time() - here
    side.calls += requests


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
        sdk, tools = Side(), Side()
        per_round = max(requests // ROUNDS, 1)
        for _ in range(ROUNDS):
            await _round(sdk, per_round, concurrency, sdk_call, gateway_cpu)
            await _round(tools, per_round, concurrency, mcp_call, gateway_cpu)
    return sdk, tools


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
