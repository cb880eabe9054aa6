"""An external A2A agent for the outbound tests, built only from a2a-sdk's own server classes.

It upper-cases the text it gets (a text artifact) or sums the ``numbers`` of a data part
(a data artifact), fails on the text ``fail`` and asks for input on ``ask me``. Served by uvicorn in the test's loop on
a free loopback port.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import uvicorn
from a2a.helpers.proto_helpers import get_data_parts, new_data_part, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    Task,
    TaskState,
    TaskStatus,
)
from starlette.applications import Starlette
from support.in_loop import loopback_socket
from support.waiting import eventually

__all__ = ["Shouter", "serve_a2a_agent", "shouter_card"]


class Shouter(AgentExecutor):
    """Upper-cases text, sums numbers, fails on "fail"."""

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.task_id is not None and context.context_id is not None
        task = Task(
            id=context.task_id,
            context_id=context.context_id,
            status=TaskStatus(state=TaskState.TASK_STATE_SUBMITTED),
        )
        if context.message is not None:
            task.history.append(context.message)
        await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, context.task_id, context.context_id)
        text = context.get_user_input()
        data = get_data_parts(list(context.message.parts)) if context.message else []
        if text == "fail":
            await updater.failed(updater.new_agent_message([new_text_part("cannot shout that")]))
            return
        if text == "ask me":
            await updater.requires_input(updater.new_agent_message([new_text_part("what?")]))
            return
        if data:
            total = sum(data[0].get("numbers", []))
            await updater.add_artifact([new_data_part({"sum": total})], name="sum")
        else:
            await updater.add_artifact([new_text_part(text.upper() + "!")], name="shout")
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        raise NotImplementedError


def shouter_card(url: str) -> AgentCard:
    """The card of the shouter served at ``url``."""
    return AgentCard(
        name="Shouter",
        description="Shouts back.",
        version="1.0.0",
        supported_interfaces=[
            AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version="1.0")
        ],
        capabilities=AgentCapabilities(streaming=False),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[
            AgentSkill(id="shout", name="shout", description="Shouts.", tags=["text"]),
            AgentSkill(id="sum", name="sum", description="Adds numbers.", tags=["math"]),
        ],
    )


@asynccontextmanager
async def serve_a2a_agent(
    card_hook: Callable[[AgentCard], AgentCard] | None = None,
) -> AsyncIterator[str]:
    """Serve the shouter; yields its base URL. ``card_hook`` may sign or change its card."""
    sock = loopback_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    card = shouter_card(url)
    if card_hook is not None:
        card = card_hook(card)
    handler = DefaultRequestHandler(
        agent_executor=Shouter(), task_store=InMemoryTaskStore(), agent_card=card
    )
    routes = create_agent_card_routes(card) + create_jsonrpc_routes(handler, rpc_url="/")
    config = uvicorn.Config(Starlette(routes=routes), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    serving = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    try:
        await eventually(lambda: server.started, within=10)
        yield url
    finally:
        server.should_exit = True
        await serving
        sock.close()
