"""The A2A bridge's cost: A2A SendMessage round trips/s against SDK ``request()`` round trips/s.

One gateway process with the embedded A2A bridge (A2A_ENABLED=true) serves both: an SDK
``Agent`` (this process) answers every EXEC_REQUEST; first a ``GatewayClient`` sends
``request()``s, then a2a-sdk's client sends JSON-RPC ``SendMessage``s to the agent's
``/a2a/<DID>``, ``concurrency`` in flight each. The gateway process's CPU per call in both
runs gives the bridge's own CPU per call (the difference). Usage:
``python bench/a2a_bridge.py [--requests N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
from a2a.client import A2ACardResolver, ClientConfig, create_client
from a2a.types import Message as A2AMessage
from a2a.types import Part, Role, SendMessageRequest, TaskState
from processes import Service, gateway

from aiconexus import Agent, GatewayClient, Identity, Message

__all__ = ["Trips", "compare"]

TOKEN = "bench-token-0123456789"


@dataclass(frozen=True, slots=True)
class Trips:
    """One run: round trips/s, gateway-process CPU per call, the generator's share of a core."""

    per_s: float
    server_cpu_us_per_call: float
    generator_core_share: float


async def _timed(
    service: Service, calls: int, concurrency: int, call: Callable[[], Awaitable[None]]
) -> Trips:
    remaining = [calls]

    async def worker() -> None:
        while remaining[0] > 0:
            remaining[0] -= 1
            await call()

    cpu_before, own_before = service.cpu_seconds(), _own_cpu()
    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - start
    server_cpu = service.cpu_seconds() - cpu_before
    return Trips(calls / seconds, server_cpu / calls * 1e6, (_own_cpu() - own_before) / seconds)


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _run(service: Service, calls: int, concurrency: int) -> tuple[Trips, Trips]:
    agent = Agent(Identity.generate(), capabilities=["bench-echo"])

    @agent.on("EXEC_REQUEST")
    async def echo(message: Message) -> object:
        return message.payload["args"]

    base = service.ws_url.replace("ws://", "http://").removesuffix("/ws")
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        agent.connect(service.ws_url),
        GatewayClient(service.ws_url, Identity.generate()) as sdk,
        httpx.AsyncClient(
            headers=headers,
            timeout=30,
            trust_env=False,
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        ) as http,
    ):

        async def sdk_call() -> None:
            await sdk.request(agent.did, {"text": "ping"})

        card = await A2ACardResolver(http, f"{base}/a2a/{agent.did}").get_agent_card()
        client = await create_client(card, ClientConfig(streaming=False, httpx_client=http))

        async def a2a_call() -> None:
            message = A2AMessage(
                message_id=str(uuid.uuid4()), role=Role.ROLE_USER, parts=[Part(text="ping")]
            )
            async for event in client.send_message(SendMessageRequest(message=message)):
                if event.task.status.state != TaskState.TASK_STATE_COMPLETED:
                    raise RuntimeError(f"task ended {event.task.status.state}")

        for _ in range(20):  # warm up both paths (connections, the bridge's caller session)
            await sdk_call()
            await a2a_call()
        sdk_trips = await _timed(service, calls, concurrency, sdk_call)
        a2a_trips = await _timed(service, calls, concurrency, a2a_call)
    return sdk_trips, a2a_trips


def compare(calls: int, concurrency: int = 16) -> tuple[Trips, Trips]:
    """SDK request() and A2A SendMessage round trips through one gateway with the bridge."""
    extra = {"A2A_ENABLED": "true", "BRIDGE_TOKENS": f"bench:{TOKEN}"}
    with gateway(verify=True, extra=extra) as service:
        sdk, a2a = asyncio.run(_run(service, calls, concurrency))
    for label, trips in (("SDK request()", sdk), ("A2A SendMessage (JSON-RPC)", a2a)):
        print(
            f"{label:<34} {trips.per_s:>9,.0f} round trips/s  gateway CPU "
            f"{trips.server_cpu_us_per_call:,.0f} us/call  (generator "
            f"{trips.generator_core_share:.0%} of a core)",
            flush=True,
        )
    return sdk, a2a


def main() -> None:
    """Print both lines and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="round trips per variant")
    args = parser.parse_args()
    sdk, a2a = compare(args.requests)
    print(f"A2A per SDK round trips: {a2a.per_s / sdk.per_s:.2f} (aim >= 0.5)")


if __name__ == "__main__":
    main()
