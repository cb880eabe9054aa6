"""The bridge over Streamable HTTP, driven by the ``mcp`` package's own client.

Callers are bearer tokens; each calls as its own DID, so the gateway's access policy can
refuse one caller's calls. Bad input comes back as MCP errors, never a traceback.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2
import mcp_types as types
import pytest
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from support.inprocess import InProcessGateway
from support.ports import free_port

from aiconexus import GatewayClient, Identity
from aiconexus_gateway.bridges.mcp import DirectoryWatcher
from aiconexus_gateway.bridges.mcp.http import McpHttpBridge

from .conftest import ADD, FAST, calculator

TOKENS = {"alice-token": "alice", "bob-token": "bob"}


@dataclass
class Served:
    """A gateway, the HTTP bridge in front of it, and the callers' identities."""

    gateway: InProcessGateway
    url: str
    identities: dict[str, Identity]


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    """A gateway whose policy refuses bob's EXEC_REQUESTs, and the bridge at /mcp."""
    identities = {name: Identity.generate() for name in TOKENS.values()}
    policy = tmp_path / "policy.toml"
    policy.write_text(
        f'default = "allow"\n\n[[rule]]\nname = "no-bob"\naction = "deny"\n'
        f'type = "EXEC_REQUEST"\nfrom = "{identities["bob"].did}"\n',
        encoding="utf-8",
    )
    env = {"STORAGE_TYPE": "memory", "POLICY_FILE": str(policy)}
    with InProcessGateway(env, tmp_path / "gw") as gateway:
        clients: dict[str, GatewayClient] = {}

        async def client_for(caller: str) -> GatewayClient:
            if caller not in clients:
                clients[caller] = GatewayClient(gateway.ws_url, identities[caller], **FAST)
                await clients[caller].connect()
            return clients[caller]

        watcher = DirectoryWatcher(gateway.ws_url, interval_s=0.1)
        bridge = McpHttpBridge(watcher, TOKENS.get, client_for, call_timeout_s=5)
        port = free_port()
        config = uvicorn.Config(bridge, host="127.0.0.1", port=port, log_level="warning")
        server = uvicorn.Server(config)

        async def serve() -> None:  # one task enters and leaves the bridge's task group
            async with bridge.running():
                await server.serve()

        task = asyncio.create_task(serve())
        async with asyncio.timeout(10):
            while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
                await asyncio.sleep(0.01)
        try:
            yield Served(gateway, f"http://127.0.0.1:{port}/mcp", identities)
        finally:
            server.should_exit = True
            await task
            for client in clients.values():
                await client.close()


@asynccontextmanager
async def mcp_client(served: Served, token: str) -> AsyncIterator[Client]:
    """``mcp.Client`` over Streamable HTTP with ``token`` as its bearer token."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(headers=headers) as http:
        transport = streamable_http_client(served.url, http_client=http)
        async with Client(transport) as client:
            yield client


async def test_http_lists_calls_as_the_caller_and_reports_changes(served: Served) -> None:
    """Tools, a call signed by the caller's own DID, an error result, a listen event."""
    agent = calculator(["http-echo", ADD])
    async with agent.connect(served.gateway.ws_url), mcp_client(served, "alice-token") as client:
        await asyncio.sleep(0.3)  # the bridge reads the directory every 0.1 s
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert set(tools) == {"http-echo", "add"}
        assert tools["add"].input_schema["properties"]["a"] == {"type": "integer"}

        added = await client.call_tool("add", {"a": 1, "b": 2})
        assert added.structured_content == {"sum": 3, "by": agent.did}
        who = await client.call_tool("http-echo", {"who": True})
        assert who.structured_content == {"caller": served.identities["alice"].did}

        failed = await client.call_tool("http-echo", {"fail": "now"})
        assert failed.is_error and failed.structured_content is not None
        assert failed.structured_content["error"]["code"] == "EXECUTION_FAILED"

        async with (
            client.listen(tools_list_changed=True) as subscription,
            asyncio.timeout(10),
            calculator(["http-late"]).connect(served.gateway.ws_url),
        ):
            async for _event in subscription:
                break
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert "http-late" in names


async def test_the_policy_refuses_one_caller_and_bad_input_is_an_mcp_error(
    served: Served,
) -> None:
    """Bob's calls: UNAUTHORIZED; unknown tool, bad or oversized args: MCP errors."""
    agent = calculator(["http-policy", ADD])
    async with (
        agent.connect(served.gateway.ws_url),
        mcp_client(served, "bob-token") as bob,
        mcp_client(served, "alice-token") as alice,
    ):
        await asyncio.sleep(0.3)
        refused = await bob.call_tool("http-policy", {"text": "hi"})
        assert refused.is_error and refused.structured_content is not None
        assert refused.structured_content["error"]["code"] == "UNAUTHORIZED"
        assert "no-bob" in refused.structured_content["error"]["message"]
        allowed = await alice.call_tool("http-policy", {"text": "hi"})
        assert not allowed.is_error

        with pytest.raises(MCPError, match="unknown tool") as unknown:
            await alice.call_tool("nothing-like-it", {})
        assert unknown.value.code == types.INVALID_PARAMS
        with pytest.raises(MCPError, match="bytes of JSON") as oversized:
            await alice.call_tool("http-policy", {"text": "x" * 70_000})
        assert oversized.value.code == types.INVALID_PARAMS
        invalid = await alice.call_tool("add", {"a": 1})
        assert invalid.is_error and invalid.structured_content is not None
        assert invalid.structured_content["error"]["code"] == "INVALID_ARGUMENTS"
        assert "'b' is a required property" in invalid.structured_content["error"]["message"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}])
async def test_a_missing_or_wrong_token_is_refused(served: Served, headers: dict[str, str]) -> None:
    """HTTP 401 with a JSON-RPC error and WWW-Authenticate; the mcp client fails to connect."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    async with httpx2.AsyncClient(headers=headers) as http:
        response = await http.post(served.url, json=body)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["error"]["message"] == "missing or wrong bearer token"
    with pytest.raises(Exception):  # noqa: B017 - whatever the client raises, it fails
        async with mcp_client(served, "wrong"):
            pass
