"""Fixtures of the bridge tests: real gateways (A2A bridge on), real agents, HTTP clients.

The clients of the A2A project (a2a-sdk) talk to the gateway over loopback HTTP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.inprocess import InProcessGateway

from aiconexus import Agent, Identity, Message

ALICE_TOKEN = "alice-token-0123456789"
BOB_TOKEN = "bob-token-0123456789ab"
TOKENS = f"alice:{ALICE_TOKEN},bob:{BOB_TOKEN}"

StartA2AGateway = Callable[..., InProcessGateway]


@pytest.fixture
def start_a2a_gateway(tmp_path: Path) -> Iterator[StartA2AGateway]:
    """Start in-process gateways with the A2A bridge on (memory backend unless told)."""
    started: list[InProcessGateway] = []

    def start(workdir: Path | None = None, **env: str) -> InProcessGateway:
        values = {
            "STORAGE_TYPE": "memory",
            "A2A_ENABLED": "true",
            "BRIDGE_TOKENS": TOKENS,
            **env,
        }
        server = InProcessGateway(values, workdir or tmp_path / f"gw{len(started)}")
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def a2a_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessGateway]:
    """One gateway with the A2A bridge, shared by a module (use fresh agent identities)."""
    env = {"STORAGE_TYPE": "memory", "A2A_ENABLED": "true", "BRIDGE_TOKENS": TOKENS}
    with InProcessGateway(env, tmp_path_factory.mktemp("a2a")) as server:
        yield server


def echo_agent(**options: Any) -> Agent:
    """An agent answering EXEC_REQUEST with ``{"echo": args, "from": sender}``."""
    agent = Agent(Identity.generate(), capabilities=["echo"], **options)

    @agent.on("EXEC_REQUEST")
    async def echo(message: Message) -> dict[str, Any]:
        args = message.payload["args"]
        if args.get("fail"):
            raise RuntimeError("asked to fail")
        return {"echo": args, "from": message.from_}

    return agent


@asynccontextmanager
async def running(agent: Agent, gateway: InProcessGateway) -> AsyncIterator[Agent]:
    """``agent`` connected to ``gateway`` while the block runs."""
    async with agent.connect(gateway.ws_url):
        yield agent


def http_client(token: str | None = ALICE_TOKEN) -> httpx.AsyncClient:
    """An HTTP client sending ``token`` as a Bearer token (none: anonymous)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(headers=headers, timeout=20.0, trust_env=False)
