"""A client nobody here wrote, in another language: the MCP TypeScript SDK calls agents as tools.

``tests/bridges/mcp/node/client.mjs`` uses ``@modelcontextprotocol/sdk``'s ``Client`` over
Streamable HTTP with a bearer token: a wrong token is refused, the tools are listed, a call
answers, a failing call is an ``isError`` result, and ``notifications/tools/list_changed``
announces an agent that comes online. Its packages are installed once by ``npm ci`` (``make
system-deps`` does it too; npm's download cache is kept in ``.cache/npm``); the test is
skipped only when Node.js or npm is absent.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .conftest import ADD, TOKENS, Served, calculator

NODE_DIR = Path(__file__).parent / "node"
NPM_CACHE = Path(__file__).resolve().parents[3] / ".cache" / "npm"
SDK = "@modelcontextprotocol/sdk"
NODE = shutil.which("node")
NPM = shutil.which("npm")


def _installed_matches_lock() -> bool:
    """True when node_modules holds the SDK version package-lock.json pins."""
    lock = json.loads((NODE_DIR / "package-lock.json").read_text(encoding="utf-8"))
    pinned = lock["packages"][f"node_modules/{SDK}"]["version"]
    installed = NODE_DIR / "node_modules" / SDK / "package.json"
    if not installed.is_file():
        return False
    return bool(json.loads(installed.read_text(encoding="utf-8"))["version"] == pinned)


@pytest.fixture(scope="session")
def node_client() -> list[str]:
    """The command running client.mjs, its packages installed (``npm ci``) if they are not."""
    if NODE is None or NPM is None:
        pytest.skip("Node.js and npm are needed for the MCP TypeScript SDK client test")
    if not _installed_matches_lock():
        subprocess.run(
            [NPM, "ci", "--no-audit", "--no-fund", "--prefer-offline", "--cache", str(NPM_CACHE)],
            cwd=NODE_DIR,
            check=True,
            capture_output=True,
            timeout=300,
        )
    return [NODE, str(NODE_DIR / "client.mjs")]


async def _line(process: asyncio.subprocess.Process) -> dict[str, Any]:
    """The client's next JSON line (its stderr in the failure when it exits instead)."""
    assert process.stdout is not None and process.stderr is not None
    async with asyncio.timeout(30):
        line = await process.stdout.readline()
        if not line:
            await process.wait()
            raise AssertionError((await process.stderr.read()).decode())
    result: dict[str, Any] = json.loads(line)
    return result


async def test_the_typescript_sdk_client_lists_calls_and_hears_of_changes(
    served: Served, node_client: list[str]
) -> None:
    """Wrong token refused; tools listed and called; isError for a failure; list_changed."""
    agent = calculator(["node-echo", ADD])
    async with agent.connect(served.gateway.ws_url):
        process = await asyncio.create_subprocess_exec(
            *node_client,
            served.url,
            TOKENS["alice"],
            "not-a-token",
            "node-echo",
            "node-late",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            called = await _line(process)
            async with calculator(["node-late"]).connect(served.gateway.ws_url):
                changed = await _line(process)
            async with asyncio.timeout(30):
                assert await process.wait() == 0
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()

    assert called["wrong"]["code"] == 401
    assert "wrong bearer token" in called["wrong"]["message"]
    assert called["capabilities"]["tools"]["listChanged"] is True
    tools = {tool["name"]: tool for tool in called["tools"]}
    assert tools["add"]["inputSchema"]["required"] == ["a", "b"]
    assert tools["add"]["description"] == "Add two integers"
    assert tools["node-echo"]["inputSchema"]["type"] == "object"

    assert called["added"].get("isError") is not True
    assert called["added"]["structuredContent"] == {"sum": 42, "by": agent.did}
    assert json.loads(called["added"]["content"][0]["text"]) == {"sum": 42, "by": agent.did}

    failed = called["failed"]
    assert failed["isError"] is True
    assert failed["structuredContent"]["error"]["code"] == "EXECUTION_FAILED"
    assert "from node" in failed["content"][0]["text"]
    invalid = called["invalid"]
    assert invalid["isError"] is True
    assert invalid["structuredContent"]["error"]["code"] == "INVALID_ARGUMENTS"
    assert called["unknown"]["code"] == -32602 and "unknown tool" in called["unknown"]["message"]

    assert "node-late" in changed["names"]
