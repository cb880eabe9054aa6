"""``aiconexus mcp`` over stdio, driven by the ``mcp`` package's own client.

A real gateway, real agents (the SDK's ``Agent``), the real console script as the MCP
server process, and ``mcp.Client`` over stdio in the initialize-handshake era (what desktop
clients speak): tools listed from capabilities, calls, errors, and the list change.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import mcp_types as types
import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError
from support.gateway import coverage_env
from support.inprocess import InProcessGateway

from .conftest import ADD, StartAgent

AICONEXUS = str(Path(sys.executable).with_name("aiconexus"))


def bridge_command(gateway: InProcessGateway, key_file: Path) -> StdioServerParameters:
    """The stdio command a desktop client would run (as in the Claude Desktop snippet)."""
    args = ["mcp", "--gateway", gateway.ws_url, "--key", str(key_file), "--refresh", "60"]
    # The client passes a minimal environment; the coverage variables let the suite measure it.
    return StdioServerParameters(
        command=AICONEXUS, args=[*args, "--timeout", "5"], env=coverage_env()
    )


async def test_stdio_lists_calls_and_reports_changes(
    mcp_gateway: InProcessGateway, start_agent: StartAgent, key_file: Path
) -> None:
    """Tools = capabilities; a call returns structured content; errors are isError results."""
    changed = asyncio.Event()

    async def on_message(message: object) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            changed.set()

    async with (
        start_agent(["stdio-echo", ADD]) as agent,
        Client(
            bridge_command(mcp_gateway, key_file), mode="legacy", message_handler=on_message
        ) as client,
    ):
        assert client.server_capabilities.tools is not None
        assert client.server_capabilities.tools.list_changed is True
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert {"stdio-echo", "add"} <= set(tools)
        assert tools["add"].description == "Add two integers"
        assert tools["add"].input_schema["required"] == ["a", "b"]
        assert tools["stdio-echo"].input_schema["type"] == "object"

        result = await client.call_tool("add", {"a": 2, "b": 40})
        assert not result.is_error
        assert result.structured_content == {"sum": 42, "by": agent.did}
        assert isinstance(result.content[0], types.TextContent)
        assert '"sum": 42' in result.content[0].text

        text = await client.call_tool("stdio-echo", {"text": "hello"})
        assert not text.is_error and text.structured_content is None
        assert isinstance(text.content[0], types.TextContent) and text.content[0].text == "hello"

        failed = await client.call_tool("stdio-echo", {"fail": "on purpose"})
        assert failed.is_error
        assert failed.structured_content is not None
        assert failed.structured_content["error"]["code"] == "EXECUTION_FAILED"
        assert "on purpose" in failed.structured_content["error"]["message"]

        invalid = await client.call_tool("add", {"a": "two", "b": 1})
        assert invalid.is_error and invalid.structured_content is not None
        assert invalid.structured_content["error"]["code"] == "INVALID_ARGUMENTS"

        with pytest.raises(MCPError, match="unknown tool"):
            await client.call_tool("no-such-tool", {})

        assert not changed.is_set()
        async with start_agent(["stdio-late"]):
            async with asyncio.timeout(10):
                await changed.wait()
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert "stdio-late" in names
