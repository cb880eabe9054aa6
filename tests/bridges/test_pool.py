"""The bridge client pool against a real gateway: every outcome of a request, and its bounds."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.inprocess import InProcessGateway
from support.waiting import eventually

from aiconexus import Agent, ErrorCode, Identity, Message, MessageType
from aiconexus_gateway.bridges.pool import (
    Answered,
    ClientPool,
    Queued,
    Refused,
    TimedOut,
    Unavailable,
    exec_request,
)


@pytest.fixture(scope="module")
def plain_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessGateway]:
    """A gateway of its own for the pool tests (memory backend)."""
    with InProcessGateway({"STORAGE_TYPE": "memory"}, tmp_path_factory.mktemp("pool")) as gw:
        yield gw


def slow_agent(delay: float = 0.0) -> Agent:
    agent = Agent(Identity.generate(), capabilities=["echo"], agent_card=False)

    @agent.on("EXEC_REQUEST")
    async def echo(message: Message) -> dict[str, Any]:
        await asyncio.sleep(delay)
        return {"echo": message.payload["args"]}

    return agent


async def test_answered_queued_then_late(plain_gateway: InProcessGateway) -> None:
    """Online: Answered; offline: Queued, and the answer reaches on_late once it connects."""
    late: asyncio.Queue[Message] = asyncio.Queue()
    pool = ClientPool(plain_gateway.ws_url, on_late=late.put, agent_card=False)
    caller = Identity.generate()
    agent = slow_agent()
    try:
        async with agent.connect(plain_gateway.ws_url):
            request = exec_request(caller, agent.did, {"x": 1}, timeout_s=5)
            outcome = await pool.request(request, caller, timeout_s=5)
            assert isinstance(outcome, Answered)
            assert outcome.response.type == MessageType.EXEC_RESPONSE
            assert outcome.response.payload["result"] == {"echo": {"x": 1}}
        request = exec_request(caller, agent.did, {"x": 2}, timeout_s=5)
        outcome = await pool.request(request, caller, timeout_s=5)
        assert isinstance(outcome, Queued) and outcome.request.id == request.id
        async with agent.connect(plain_gateway.ws_url):
            answer = await asyncio.wait_for(late.get(), 10)
        assert answer.correlation_id == request.id
        assert answer.payload["result"] == {"echo": {"x": 2}}
        assert len(pool) == 1
    finally:
        await pool.close()


async def test_timed_out_and_refused(tmp_path: Path) -> None:
    """No answer in time: TimedOut; a gateway that stores nothing refuses an offline DID."""
    env = {"STORAGE_TYPE": "memory", "STORE_MAX_PER_AGENT": "0"}
    with InProcessGateway(env, tmp_path) as gateway:
        pool = ClientPool(gateway.ws_url, agent_card=False)
        caller = Identity.generate()
        agent = slow_agent(delay=2.0)
        try:
            async with agent.connect(gateway.ws_url):
                request = exec_request(caller, agent.did, {}, timeout_s=0.2)
                outcome = await pool.request(request, caller, timeout_s=0.2)
                assert isinstance(outcome, TimedOut)
            offline = Identity.generate().did
            outcome = await pool.request(
                exec_request(caller, offline, {}, timeout_s=1), caller, timeout_s=5
            )
            assert isinstance(outcome, Refused)
            assert outcome.error.code == ErrorCode.UNKNOWN_AGENT
        finally:
            await pool.close()


async def test_bounded_and_closed_when_idle(plain_gateway: InProcessGateway) -> None:
    """At max_clients with every client busy: Unavailable; an idle client is closed."""
    pool = ClientPool(plain_gateway.ws_url, max_clients=1, idle_s=0.2, agent_card=False)
    agent = slow_agent(delay=1.0)
    first, second = Identity.generate(), Identity.generate()
    try:
        async with agent.connect(plain_gateway.ws_url):
            busy = asyncio.create_task(
                pool.request(exec_request(first, agent.did, {}, timeout_s=5), first, timeout_s=5)
            )
            await eventually(lambda: len(pool) == 1)
            outcome = await pool.request(
                exec_request(second, agent.did, {}, timeout_s=5), second, timeout_s=5
            )
            assert isinstance(outcome, Unavailable)
            assert isinstance(await busy, Answered)
        await eventually(lambda: len(pool) == 0)
    finally:
        await pool.close()


async def test_no_gateway_is_unavailable() -> None:
    """A gateway that does not listen: Unavailable, never an exception."""
    pool = ClientPool("ws://127.0.0.1:9/ws", connect_timeout_s=2, agent_card=False)
    caller = Identity.generate()
    request = exec_request(caller, Identity.generate().did, {}, timeout_s=1)
    outcome = await pool.request(request, caller, timeout_s=1)
    assert isinstance(outcome, Unavailable)
    await pool.close()
