"""Fixtures of the bridge tests: a real gateway (memory backend) and real agents on it.

The bridges are clients of the gateway, indifferent to its backend, so one backend is
enough here (the gateway's own suites cover the others).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support.inprocess import InProcessGateway

from aiconexus import Agent, Backoff, Capability, Identity, Message
from aiconexus_gateway.bridges.callers import Callers

FAST: dict[str, Any] = {
    "backoff": Backoff(initial_delay=0.05, factor=2.0, max_delay=0.5),
    "open_timeout_s": 5.0,
}
"""GatewayClient options for tests: quick reconnects and short open timeouts."""

ADD = Capability(
    "add",
    description="Add two integers",
    args_schema={
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
        "additionalProperties": False,
    },
    examples=({"a": 1, "b": 2},),
)
"""A declared capability: its tool has this input schema."""

StartAgent = Callable[..., AbstractAsyncContextManager[Agent]]

TOKENS = {"alice": "alice-token-0123456789", "bob": "bob-token-0123456789ab"}
SECRET = bytes(range(32))
"""The bridge secret: the callers' DIDs are known before the gateway starts."""
CALLERS = Callers(TOKENS, SECRET)


@dataclass
class Served:
    """A gateway with the MCP bridge at /mcp."""

    gateway: InProcessGateway
    url: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A gateway (MCP_ENABLED) whose policy refuses bob's EXEC_REQUESTs."""
    workdir = tmp_path_factory.mktemp("mcp-http")
    secret = workdir / "bridge.secret"
    secret.write_bytes(SECRET)
    secret.chmod(0o600)
    policy = workdir / "policy.toml"
    policy.write_text(
        f'default = "allow"\n\n[[rule]]\nname = "no-bob"\naction = "deny"\n'
        f'type = "EXEC_REQUEST"\nfrom = "{CALLERS.did("bob")}"\n',
        encoding="utf-8",
    )
    env = {
        "STORAGE_TYPE": "memory",
        "MCP_ENABLED": "true",
        "BRIDGE_TOKENS": ",".join(f"{name}:{token}" for name, token in TOKENS.items()),
        "BRIDGE_SECRET_FILE": str(secret),
        "POLICY_FILE": str(policy),
    }
    with InProcessGateway(env, workdir / "gw") as gateway:
        yield Served(gateway, f"{gateway.http_url}/mcp")


@pytest.fixture(scope="module")
def mcp_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessGateway]:
    """A gateway (memory backend) shared by a module; use fresh capability names per test."""
    workdir = tmp_path_factory.mktemp("gateway")
    with InProcessGateway({"STORAGE_TYPE": "memory"}, workdir) as server:
        yield server


def calculator(capabilities: list[str | Capability]) -> Agent:
    """An agent answering EXEC_REQUEST: ``a`` + ``b``; ``who``: the caller; ``fail``: fails."""
    agent = Agent(Identity.generate(), capabilities=capabilities, **FAST)

    @agent.on("EXEC_REQUEST")
    async def execute(msg: Message) -> Any:
        args = msg.payload["args"]
        if "fail" in args:
            raise ValueError(f"asked to fail: {args['fail']}")
        if "who" in args:
            return {"caller": msg.from_}
        if "a" in args:
            return {"sum": args["a"] + args["b"], "by": agent.did}
        return args.get("text", "plain text")

    return agent


@pytest.fixture
def start_agent(mcp_gateway: InProcessGateway) -> StartAgent:
    """Calculator agents, connected while their ``async with`` block runs."""

    @asynccontextmanager
    async def start(capabilities: list[str | Capability]) -> AsyncIterator[Agent]:
        agent = calculator(capabilities)
        async with agent.connect(mcp_gateway.ws_url):
            yield agent

    return start


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    """A fresh identity's key file (mode 0600)."""
    path = tmp_path / "bridge.key"
    Identity.generate().save(path)
    return path
