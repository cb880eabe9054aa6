"""The A2A bridge's cost: A2A SendMessage round trips/s against SDK ``request()`` round trips/s.

One gateway process with the embedded A2A bridge (A2A_ENABLED=true) serves both: an SDK
``Agent`` (this process) answers every EXEC_REQUEST. The same number of calls, ``concurrency``
in flight, as ``request()``s of one ``GatewayClient`` and as JSON-RPC ``SendMessage``s of
a2a-sdk's client to the agent's ``/a2a/<DID>``, the two taking turns in rounds so that a
change of the machine's load falls on both alike. Each A2A worker has its own HTTP client
with one keep-alive connection, as separate callers would: one shared pool of ``concurrency``
connections costs the generator, on every request, a pass over all of them (and a readability
poll of each idle one), which on a 2-core machine is CPU taken from the gateway.

Besides the rates it prints the CPU per call of the gateway process (which holds the bridge)
and of this one (the clients and the agent); the difference of the gateway's CPU per call
between the two is the bridge's own. Usage: ``python bench/a2a_bridge.py [--requests N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from a2a.client import A2ACardResolver, Client, ClientConfig, create_client
from a2a.types import Message as A2AMessage
from a2a.types import Part, Role, SendMessageRequest, TaskState
from processes import gateway
from rounds import Call, Side, alternate

from aiconexus import Agent, GatewayClient, Identity, Message

__all__ = ["Trips", "compare"]

TOKEN = "bench-token-0123456789"


@dataclass(frozen=True, slots=True)
class Trips:
    """One variant: round trips/s, CPU per call (gateway, this process), this process's share."""

    per_s: float
    server_cpu_us_per_call: float
    generator_core_share: float
    client_cpu_us_per_call: float


def _trips(side: Side) -> Trips:
    in_gateway, in_client = side.cpu_us()
    return Trips(
        per_s=side.rate,
        server_cpu_us_per_call=in_gateway,
        generator_core_share=side.core_share,
        client_cpu_us_per_call=in_client,
    )


def _a2a_call(client: Client) -> Call:
    async def call() -> None:
        message = A2AMessage(
            message_id=str(uuid.uuid4()), role=Role.ROLE_USER, parts=[Part(text="ping")]
        )
        async for event in client.send_message(SendMessageRequest(message=message)):
            if event.task.status.state != TaskState.TASK_STATE_COMPLETED:
                raise RuntimeError(f"task ended {event.task.status.state}")

    return call


async def _run(
    ws_url: str, calls: int, concurrency: int, gateway_cpu: Callable[[], float]
) -> tuple[Trips, Trips]:
    agent = Agent(Identity.generate(), capabilities=["bench-echo"])

    @agent.on("EXEC_REQUEST")
    async def echo(message: Message) -> object:
        return message.payload["args"]

    base = ws_url.replace("ws://", "http://").removesuffix("/ws")
    headers = {"Authorization": f"Bearer {TOKEN}"}
    one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with (
        agent.connect(ws_url),
        GatewayClient(ws_url, Identity.generate()) as sdk,
        AsyncExitStack() as stack,
    ):

        async def sdk_call() -> None:
            await sdk.request(agent.did, {"text": "ping"})

        a2a_calls: list[Call] = []
        for _ in range(concurrency):
            http = await stack.enter_async_context(
                httpx.AsyncClient(headers=headers, timeout=30, trust_env=False, limits=one)
            )
            card = await A2ACardResolver(http, f"{base}/a2a/{agent.did}").get_agent_card()
            client = await create_client(card, ClientConfig(streaming=False, httpx_client=http))
            a2a_calls.append(_a2a_call(client))

        for _ in range(2):  # warm up both paths (connections, the bridge's caller session)
            await asyncio.gather(sdk_call(), *(call() for call in a2a_calls))
        sdk_side, a2a_side = await alternate(
            calls, [sdk_call] * concurrency, a2a_calls, gateway_cpu
        )
    return _trips(sdk_side), _trips(a2a_side)


def compare(calls: int, concurrency: int = 16) -> tuple[Trips, Trips]:
    """SDK request() and A2A SendMessage round trips through one gateway with the bridge."""
    extra = {"A2A_ENABLED": "true", "BRIDGE_TOKENS": f"bench:{TOKEN}"}
    with gateway(verify=True, extra=extra) as service:
        sdk, a2a = asyncio.run(_run(service.ws_url, calls, concurrency, service.cpu_seconds))
    for label, trips in (("SDK request()", sdk), ("A2A SendMessage (JSON-RPC)", a2a)):
        print(
            f"{label:<28} {trips.per_s:>7,.0f} round trips/s  CPU per call: gateway "
            f"{trips.server_cpu_us_per_call / 1e3:.2f} ms, clients and agent "
            f"{trips.client_cpu_us_per_call / 1e3:.2f} ms ({trips.generator_core_share:.0%} "
            "of a core)",
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
