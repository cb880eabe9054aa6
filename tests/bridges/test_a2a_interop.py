"""An agent written only from PROTOCOL.md (no SDK) is served to A2A clients by the bridge."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

pytest.importorskip("a2a", reason="the A2A bridge tests need the a2a extra")

from a2a.client import A2ACardResolver, ClientConfig, create_client
from a2a.types import Message, Part, Role, SendMessageRequest, TaskState
from interop.minimal_client import Keypair, MinimalClient
from support.inprocess import InProcessGateway

from .conftest import http_client


async def answer_exec_requests(agent: MinimalClient) -> None:
    """Answer every EXEC_REQUEST with the length of its text (a plain string result)."""
    while True:
        _, frame = await agent.receive()
        if frame["type"] == "EXEC_REQUEST":
            text = frame["payload"]["args"].get("text", "")
            result = {"status": "success", "result": f"{len(text)} characters"}
            await agent.send("EXEC_RESPONSE", frame["from"], result, correlation_id=frame["id"])


async def test_a_minimal_client_agent_answers_an_a2a_client(
    a2a_gateway: InProcessGateway,
) -> None:
    """It learns the public URL, sends no card, gets an unsigned one built by the bridge."""
    agent = MinimalClient(Keypair())
    await agent.connect(a2a_gateway.ws_url, ["count"], {"name": "Counter"})
    assert agent.public_url == a2a_gateway.http_url  # the loopback URL of the embedded bridge
    serving = asyncio.create_task(answer_exec_requests(agent))
    try:
        async with http_client() as http:
            url = f"{a2a_gateway.http_url}/a2a/{agent.keys.did}"
            card = await A2ACardResolver(http, url).get_agent_card()
            assert card.name == "Counter" and not card.signatures
            assert [skill.id for skill in card.skills] == ["count"]
            client = await create_client(card, ClientConfig(streaming=False, httpx_client=http))
            message = Message(message_id="m", role=Role.ROLE_USER, parts=[Part(text="hello")])
            events = [e async for e in client.send_message(SendMessageRequest(message=message))]
        task = events[-1].task
        assert task.status.state == TaskState.TASK_STATE_COMPLETED
        assert task.artifacts[0].parts[0].text == "5 characters"  # a string result: text part
    finally:
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        await agent.close()
