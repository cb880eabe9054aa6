"""A2A tasks through the bridge: offline agents, streaming, get, list, cancel, restarts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

pytest.importorskip("a2a", reason="the A2A bridge tests need the a2a extra")

from a2a.client import A2ACardResolver, ClientConfig, create_client
from a2a.client.client import Client
from a2a.types import (
    CancelTaskRequest,
    GetTaskRequest,
    ListTasksRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
    SubscribeToTaskRequest,
    Task,
    TaskState,
)
from a2a.utils.errors import (
    TaskNotCancelableError,
    TaskNotFoundError,
    UnsupportedOperationError,
)
from google.protobuf.json_format import MessageToDict
from starlette.routing import Mount
from support.inprocess import InProcessGateway
from support.redis_server import redis_or_skip

from aiconexus import Agent
from aiconexus_gateway.bridges.a2a.app import A2AApp

from .conftest import BOB_TOKEN, StartA2AGateway, echo_agent, http_client, running

COMPLETED = TaskState.TASK_STATE_COMPLETED
WORKING = TaskState.TASK_STATE_WORKING


def request(text: str) -> SendMessageRequest:
    """A SendMessage with one text part."""
    message = Message(message_id="m", role=Role.ROLE_USER, parts=[Part(text=text)])
    return SendMessageRequest(message=message)


async def client_for(
    gateway: InProcessGateway,
    did: str,
    http: httpx.AsyncClient,
    *,
    streaming: bool = False,
    binding: str = "JSONRPC",
) -> Client:
    """a2a-sdk's client of agent ``did`` (from its card)."""
    card = await A2ACardResolver(http, f"{gateway.http_url}/a2a/{did}").get_agent_card()
    config = ClientConfig(
        streaming=streaming, httpx_client=http, supported_protocol_bindings=[binding]
    )
    return await create_client(card, client_config=config)


async def offline_agent(gateway: InProcessGateway, **options: object) -> Agent:
    """An agent that registered once (so the bridge knows its card) and went offline."""
    agent = echo_agent(**options)
    async with running(agent, gateway), http_client() as http:
        await client_for(gateway, agent.did, http)
    return agent


async def send(client: Client, text: str) -> Task:
    """SendMessage; the task of its last event."""
    events = [event async for event in client.send_message(request(text))]
    return events[-1].task


async def completed(client: Client, task_id: str, within: float = 10.0) -> Task:
    """GetTask until the task is no longer open."""
    async with asyncio.timeout(within):
        while True:
            task = await client.get_task(GetTaskRequest(id=task_id))
            if task.status.state != WORKING:
                return task
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("binding", ["JSONRPC", "HTTP+JSON"])
async def test_offline_agent_completes_the_task_when_it_comes_back(
    a2a_gateway: InProcessGateway, binding: str
) -> None:
    """ACK queued: the task stays WORKING; the agent reconnects, answers, and it COMPLETES."""
    agent = await offline_agent(a2a_gateway)
    async with http_client() as http:
        client = await client_for(a2a_gateway, agent.did, http, binding=binding)
        task = await send(client, "later")
        assert task.status.state == WORKING
        assert MessageToDict(task.metadata)["aiconexus"]["delivery"] == "queued"
        assert (await client.get_task(GetTaskRequest(id=task.id))).status.state == WORKING
        async with running(agent, a2a_gateway):
            done = await completed(client, task.id)
    assert done.status.state == COMPLETED
    assert MessageToDict(done.artifacts[0].parts[0].data)["echo"] == {"text": "later"}


async def test_streaming_and_subscribe_follow_the_task(a2a_gateway: InProcessGateway) -> None:
    """SendStreamingMessage and SubscribeToTask stream WORKING (queued) then COMPLETED."""
    agent = await offline_agent(a2a_gateway)
    async with http_client() as http:
        client = await client_for(a2a_gateway, agent.did, http, streaming=True)
        stream = client.send_message(request("streamed"))
        first = await anext(stream)
        task_id = first.task.id
        assert first.task.status.state == WORKING
        queued = await anext(stream)
        assert queued.status_update.status.state == WORKING
        subscriber = client.subscribe(SubscribeToTaskRequest(id=task_id))
        assert (await anext(subscriber)).task.id == task_id
        async with running(agent, a2a_gateway):
            rest = [event async for event in stream]
            watched = [event async for event in subscriber]
    for events in (rest, watched):
        artifact = next(e.artifact_update for e in events if e.HasField("artifact_update"))
        assert MessageToDict(artifact.artifact.parts[0].data)["echo"] == {"text": "streamed"}
        assert events[-1].status_update.status.state == COMPLETED


async def test_list_and_cancel(a2a_gateway: InProcessGateway) -> None:
    """ListTasks shows a caller its own tasks only; CancelTask ends an open task once."""
    agent = await offline_agent(a2a_gateway)
    async with http_client() as http, http_client(BOB_TOKEN) as bob_http:
        client = await client_for(a2a_gateway, agent.did, http)
        first, second = await send(client, "one"), await send(client, "two")
        listed = await client.list_tasks(ListTasksRequest(page_size=1))
        assert listed.total_size == 2 and len(listed.tasks) == 1 and listed.next_page_token
        rest = await client.list_tasks(ListTasksRequest(page_token=listed.next_page_token))
        assert {listed.tasks[0].id, rest.tasks[0].id} == {first.id, second.id}
        bob = await client_for(a2a_gateway, agent.did, bob_http)
        assert (await bob.list_tasks(ListTasksRequest())).total_size == 0
        with pytest.raises(TaskNotFoundError):
            await bob.get_task(GetTaskRequest(id=first.id))
        canceled = await client.cancel_task(CancelTaskRequest(id=first.id))
        assert canceled.status.state == TaskState.TASK_STATE_CANCELED
        with pytest.raises(TaskNotCancelableError):
            await client.cancel_task(CancelTaskRequest(id=first.id))
        async with running(agent, a2a_gateway):
            assert (await completed(client, second.id)).status.state == COMPLETED
        # the late answer to the canceled task does not reopen it
        assert (await client.get_task(GetTaskRequest(id=first.id))).status.state == (
            TaskState.TASK_STATE_CANCELED
        )


@contextmanager
def redis_env() -> Iterator[dict[str, str]]:
    with redis_or_skip() as server:
        yield {"STORAGE_TYPE": "redis", "REDIS_URL": server.url_of(1)}


@pytest.mark.parametrize("storage", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
async def test_an_open_task_survives_a_gateway_restart(
    start_a2a_gateway: StartA2AGateway, tmp_path: Path, storage: str
) -> None:
    """Restart with a task open (SQLite and Redis): the answer still completes it."""
    with redis_env() if storage == "redis" else _sqlite_env(tmp_path) as env:
        gateway = start_a2a_gateway(tmp_path / "gw", **env)
        agent = await offline_agent(gateway)
        async with http_client() as http:
            client = await client_for(gateway, agent.did, http)
            task = await send(client, "across a restart")
            assert task.status.state == WORKING
        await asyncio.to_thread(gateway.stop)
        await asyncio.to_thread(gateway.start)
        async with running(agent, gateway), http_client() as http:
            client = await client_for(gateway, agent.did, http)
            done = await completed(client, task.id, within=20.0)
        assert done.status.state == COMPLETED
        assert MessageToDict(done.artifacts[0].parts[0].data)["echo"] == {
            "text": "across a restart"
        }


@contextmanager
def _sqlite_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    yield {"STORAGE_TYPE": "sqlite", "SQLITE_PATH": str(tmp_path / "gateway.db")}


async def test_an_agent_that_asks_for_encryption_gets_sealed_requests(
    start_a2a_gateway: StartA2AGateway, tmp_path: Path
) -> None:
    """encrypt=True: the offline store holds no caller payload; the answer still completes."""
    database = tmp_path / "gateway.db"
    gateway = start_a2a_gateway(STORAGE_TYPE="sqlite", SQLITE_PATH=str(database))
    agent = await offline_agent(gateway, encrypt=True)
    secret = "very-secret-words"
    async with http_client() as http:
        client = await client_for(gateway, agent.did, http)
        task = await send(client, secret)
        assert MessageToDict(task.metadata)["aiconexus"]["delivery"] == "queued"
        stored = await asyncio.to_thread(_read_all, tmp_path, "gateway.db*")
        assert b"EXEC_REQUEST" in stored and secret.encode() not in stored
        async with running(agent, gateway):
            done = await completed(client, task.id)
    assert done.status.state == COMPLETED
    assert MessageToDict(done.artifacts[0].parts[0].data)["echo"] == {"text": secret}


def _read_all(folder: Path, pattern: str) -> bytes:
    """The bytes of every file in ``folder`` matching ``pattern`` (a database and its WAL)."""
    return b"".join(path.read_bytes() for path in sorted(folder.glob(pattern)))


async def test_a_gateway_requiring_encryption_gets_sealed_requests(
    start_a2a_gateway: StartA2AGateway,
) -> None:
    """REQUIRE_ENCRYPTION=EXEC_REQUEST: the embedded bridge seals every request."""
    gateway = start_a2a_gateway(REQUIRE_ENCRYPTION="EXEC_REQUEST")
    agent = echo_agent()
    async with running(agent, gateway), http_client() as http:
        client = await client_for(gateway, agent.did, http)
        task = await send(client, "sealed")
    assert task.status.state == COMPLETED
    answer = MessageToDict(task.metadata)["aiconexus"]["response"]
    assert '"sealed"' not in answer  # the agent answered sealed too


async def test_return_immediately_runs_the_request_in_the_background(
    a2a_gateway: InProcessGateway,
) -> None:
    """returnImmediately: SendMessage answers WORKING at once; GetTask later shows COMPLETED."""
    agent = echo_agent()
    async with running(agent, a2a_gateway), http_client() as http:
        client = await client_for(a2a_gateway, agent.did, http)
        message = request("background").message
        configured = SendMessageRequest(message=message)
        configured.configuration.return_immediately = True
        events = [event async for event in client.send_message(configured)]
        assert events[-1].task.status.state == WORKING
        done = await completed(client, events[-1].task.id)
    assert done.status.state == COMPLETED


def bridge_app(gateway: InProcessGateway) -> A2AApp:
    """The A2A application mounted in ``gateway``."""
    assert gateway.app is not None
    mounts = [r for r in gateway.app.http.routes if isinstance(r, Mount) and r.path == "/a2a"]
    app = mounts[0].app
    assert isinstance(app, A2AApp)
    return app


async def test_the_tasks_a_caller_keeps_at_an_agent_are_bounded(
    start_a2a_gateway: StartA2AGateway,
) -> None:
    """Beyond max_tasks, SendMessage is refused with code QUEUE_FULL; others are unaffected."""
    gateway = start_a2a_gateway()
    bridge_app(gateway).handler.runner.max_tasks = 2
    agent = await offline_agent(gateway)
    async with http_client() as http, http_client(BOB_TOKEN) as bob_http:
        client = await client_for(gateway, agent.did, http)
        await send(client, "one")
        await send(client, "two")
        with pytest.raises(UnsupportedOperationError) as refused:
            await send(client, "three")
        assert refused.value.data == {"code": "QUEUE_FULL", "agent": agent.did}
        bob = await client_for(gateway, agent.did, bob_http)
        assert (await send(bob, "bob's first")).status.state == WORKING


async def test_a_stream_left_early_does_not_stop_its_task(a2a_gateway: InProcessGateway) -> None:
    """The client drops the stream after the first event: the request still goes out."""
    agent = await offline_agent(a2a_gateway)
    async with http_client() as http:
        client = await client_for(a2a_gateway, agent.did, http, streaming=True)
        stream = client.send_message(request("left early"))
        first = await anext(stream)
        assert isinstance(stream, AsyncGenerator)
        await stream.aclose()
        plain = await client_for(a2a_gateway, agent.did, http)
        async with running(agent, a2a_gateway):
            done = await completed(plain, first.task.id)
    assert done.status.state == COMPLETED
