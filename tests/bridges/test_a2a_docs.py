"""The A2A client of README.md and BRIDGES.md runs as written against a real gateway."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("a2a", reason="the A2A bridge tests need the a2a extra")

from support.inprocess import InProcessGateway

from aiconexus import Agent, Identity, Message

from .conftest import ALICE_TOKEN, running

ROOT = Path(__file__).resolve().parents[2]
DOC_GATEWAY = "http://127.0.0.1:8000"
DOC_DID = "did:key:z6MkAgent"


def a2a_client_block(name: str) -> str:
    """The ```python block of a document that imports a2a.client."""
    text = (ROOT / name).read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```$", text, flags=re.S | re.M)
    found = [block for block in blocks if "from a2a.client import" in block]
    assert len(found) == 1, f"{name}: {len(found)} A2A client blocks"
    return str(found[0])


def test_readme_and_bridges_show_the_same_client() -> None:
    """One example, in both documents, with the token the tests' gateway accepts."""
    assert a2a_client_block("README.md") == a2a_client_block("BRIDGES.md")
    assert f'"{ALICE_TOKEN}"' in a2a_client_block("README.md")
    assert len(a2a_client_block("README.md").strip().splitlines()) <= 30


async def test_the_documented_client_calls_the_echo_agent(a2a_gateway: InProcessGateway) -> None:
    """It verifies the card, calls the README's echo agent and prints its answer."""
    agent = Agent(Identity.generate(), capabilities=["echo"])

    @agent.on("EXEC_REQUEST")
    async def echo(msg: Message) -> dict[str, Any]:  # the README's agent
        return {"echo": msg.payload["args"]}

    code = (
        a2a_client_block("README.md")
        .replace(DOC_GATEWAY, a2a_gateway.http_url)
        .replace(f'"{DOC_DID}"', f'"{agent.did}"')
    )
    async with running(agent, a2a_gateway):
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            code,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    assert out.decode().strip() == "{'echo': {'text': 'hi'}}"
