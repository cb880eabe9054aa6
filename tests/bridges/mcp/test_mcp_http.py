"""The bridge over Streamable HTTP, driven by the ``mcp`` package's own client.

Callers are bearer tokens; each calls as its own DID, so the gateway's access policy can
refuse one caller's calls. Bad input comes back as MCP errors, never a traceback.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from .conftest import ADD, CALLERS, TOKENS, Served, calculator


@asynccontextmanager
async def mcp_client(served: Served, caller: str) -> AsyncIterator[Client]:
    """``mcp.Client`` over Streamable HTTP with ``caller``'s bearer token."""
    headers = {"Authorization": f"Bearer {TOKENS.get(caller, caller)}"}
    async with httpx2.AsyncClient(headers=headers) as http:
        transport = streamable_http_client(served.url, http_client=http)
        async with Client(transport) as client:
            yield client


async def test_http_lists_calls_as_the_caller_and_reports_changes(served: Served) -> None:
    """Tools, a call signed by the caller's own DID, an error result, a listen event."""
    agent = calculator(["http-echo", ADD])
    async with agent.connect(served.gateway.ws_url), mcp_client(served, "alice") as client:
        tools = await tools_with(client, "http-echo")
        assert {"http-echo", "add"} <= set(tools)
        assert tools["add"].input_schema["properties"]["a"] == {"type": "integer"}

        added = await client.call_tool("add", {"a": 1, "b": 2})
        assert added.structured_content == {"sum": 3, "by": agent.did}
        who = await client.call_tool("http-echo", {"who": True})
        assert who.structured_content == {"caller": CALLERS.did("alice")}

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
        mcp_client(served, "bob") as bob,
        mcp_client(served, "alice") as alice,
    ):
        await tools_with(bob, "http-policy")
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


async def tools_with(client: Client, name: str) -> dict[str, types.Tool]:
    """The tools, once the bridge has read an agent offering ``name`` from the directory."""
    async with asyncio.timeout(10):
        while True:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            if name in tools:
                return tools
            await asyncio.sleep(0.2)


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}])
async def test_a_missing_or_wrong_token_is_refused(served: Served, headers: dict[str, str]) -> None:
    """HTTP 401 with a JSON-RPC error and WWW-Authenticate; the mcp client fails to connect."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    async with httpx2.AsyncClient(headers=headers) as http:
        response = await http.post(served.url, json=body)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    message = "wrong bearer token" if headers else "a bearer token is required"
    assert response.json()["error"]["message"] == message
    with pytest.raises(Exception):  # noqa: B017 - whatever the client raises, it fails
        async with mcp_client(served, "wrong"):
            pass


async def test_a_call_may_wait_for_an_agent_or_name_one(served: Served) -> None:
    """_meta aiconexus/wait: the call waits for an agent to come; aiconexus/did: that agent."""
    first = calculator(["http-meta"])
    async with first.connect(served.gateway.ws_url), mcp_client(served, "alice") as client:
        await tools_with(client, "http-meta")
        second = calculator(["http-meta"])
        async with second.connect(served.gateway.ws_url):
            for agent in (first, second, first):
                named = await client.call_tool(
                    "http-meta",
                    {"a": 1, "b": 1},
                    meta=cast(types.RequestParamsMeta, {"aiconexus/did": agent.did}),
                )
                assert named.structured_content == {"sum": 2, "by": agent.did}
    async with asyncio.timeout(10):
        while "http-meta" in {t.name for t in (await client_tools(served))}:  # noqa: ASYNC110
            await asyncio.sleep(0.05)

    async with mcp_client(served, "alice") as client:
        waiting = asyncio.create_task(
            client.call_tool(
                "http-meta",
                {"a": 2, "b": 3},
                meta=cast(types.RequestParamsMeta, {"aiconexus/wait": True}),
            )
        )
        with pytest.raises(MCPError, match="unknown tool"):
            await client.call_tool("http-meta", {"a": 2, "b": 3})
        late = calculator(["http-meta"])
        async with late.connect(served.gateway.ws_url):
            async with asyncio.timeout(10):
                waited = await waiting
        assert waited.structured_content == {"sum": 5, "by": late.did}


async def client_tools(served: Served) -> list[types.Tool]:
    """The tools a fresh client is shown."""
    async with mcp_client(served, "alice") as client:
        return (await client.list_tools()).tools
