"""A client nobody here wrote, in another language: @a2a-js/sdk calls an AIConexus agent.

``make system-deps`` installs the client's package (``npm ci`` in tests/bridges/a2a_js);
the test is skipped only when Node.js itself is absent.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("a2a", reason="the A2A bridge tests need the a2a extra")

from support.inprocess import InProcessGateway

from .conftest import ALICE_TOKEN, echo_agent, running

CLIENT_DIR = Path(__file__).parent / "a2a_js"
NODE = shutil.which("node")
COMPLETED = 3  # TaskState.TASK_STATE_COMPLETED


@pytest.mark.skipif(NODE is None, reason="Node.js is not installed")
@pytest.mark.parametrize("binding", ["JSONRPC", "HTTP+JSON"])
async def test_the_js_sdk_client_calls_an_agent(
    a2a_gateway: InProcessGateway, binding: str
) -> None:
    """@a2a-js/sdk: card from the bridge, SendMessage, a COMPLETED task with the answer."""
    assert (CLIENT_DIR / "node_modules" / "@a2a-js" / "sdk").is_dir(), (
        f"the @a2a-js/sdk client is not installed: run `make system-deps` (npm ci in {CLIENT_DIR})"
    )
    assert NODE is not None
    agent = echo_agent()
    async with running(agent, a2a_gateway):
        process = await asyncio.create_subprocess_exec(
            NODE,
            str(CLIENT_DIR / "client.mjs"),
            f"{a2a_gateway.http_url}/a2a/{agent.did}",
            ALICE_TOKEN,
            binding,
            "hi from node",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    task = json.loads(out)
    assert task["status"]["state"] == COMPLETED
    value = task["artifacts"][0]["parts"][0]["content"]["value"]
    assert value["echo"] == {"text": "hi from node"}
