"""The A2A request handler: each A2A call becomes calls of the gateway by a caller identity.

:class:`BridgeRequestHandler` implements a2a-sdk's ``RequestHandler``; a2a-sdk's own
JSON-RPC and HTTP+JSON dispatchers parse requests, call it and encode its answers and
errors. ``context.state`` names the agent (``agent``, from the URL) and the caller
(``caller``, from the bearer token; see :mod:`.app`). A task's life (stored, sent, settled
by its answer, also a late one) is the :class:`.runner.TaskRunner`'s; this handler checks
who asks, reads the stored tasks and streams their events.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from typing import Any

from a2a.server.context import ServerCallContext
from a2a.server.request_handlers.request_handler import RequestHandler
from a2a.types import (
    AgentCard,
    CancelTaskRequest,
    GetExtendedAgentCardRequest,
    GetTaskRequest,
    ListTasksRequest,
    ListTasksResponse,
    Message,
    SendMessageRequest,
    SubscribeToTaskRequest,
    Task,
    TaskState,
)
from a2a.utils.errors import (
    ExtendedAgentCardNotConfiguredError,
    InternalError,
    InvalidParamsError,
    PushNotificationNotSupportedError,
    TaskNotCancelableError,
    TaskNotFoundError,
    UnsupportedOperationError,
)
from a2a.utils.task import apply_history_length

from .events import Event
from .mapping import status_now
from .runner import MAX_BACKGROUND, Caller, Started, TaskRunner
from .store import TaskRecord

__all__ = ["BridgeRequestHandler", "Caller"]

MAX_PAGE = 100
"""The largest ListTasks page."""

MAX_SUBSCRIBERS = 16
"""Most streams watching one task at once."""


class BridgeRequestHandler(RequestHandler):
    """a2a-sdk's ``RequestHandler`` over a :class:`.runner.TaskRunner` (see the module)."""

    def __init__(self, runner: TaskRunner) -> None:
        self.runner = runner
        self.callers = runner.callers
        self.store = runner.store
        self.events = runner.events

    # -- context ---------------------------------------------------------------------------
    def _who(self, context: ServerCallContext) -> tuple[str, Caller]:
        agent = context.state.get("agent")
        name = context.state.get("caller")
        if not isinstance(agent, str) or not isinstance(name, str):
            raise InternalError("the bridge route did not name the agent and the caller")
        return agent, Caller(name, self.callers.identity(name))

    async def _owned(self, task_id: str, context: ServerCallContext) -> TaskRecord:
        agent, caller = self._who(context)
        record = await self.store.get(task_id) if task_id else None
        if record is None or record.owner != caller.identity.did or record.agent != agent:
            raise TaskNotFoundError(f"no task {task_id!r} of this caller at this agent")
        return record

    # -- RequestHandler --------------------------------------------------------------------
    async def _start(self, params: SendMessageRequest, context: ServerCallContext) -> Started:
        agent, caller = self._who(context)
        encrypt = context.state.get("encrypt") is True
        return await self.runner.start(params.message, agent, caller, encrypt)

    async def on_message_send(  # noqa: D102
        self, params: SendMessageRequest, context: ServerCallContext
    ) -> Task | Message:
        if params.configuration.return_immediately and self.runner.busy():
            raise UnsupportedOperationError(
                f"more than {MAX_BACKGROUND} tasks already run in the background; retry later",
                data={"code": "BUSY"},
            )
        started = await self._start(params, context)
        if params.configuration.return_immediately:
            self.runner.run_in_background(started)
            return started.task
        return apply_history_length(await self.runner.run(started), params.configuration)

    async def on_message_send_stream(  # noqa: D102
        self, params: SendMessageRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event, None]:
        started = await self._start(params, context)
        with self.events.subscribe(started.task.id) as queue:
            yield started.task
            running = asyncio.create_task(self.runner.run(started))

            def ended(done: asyncio.Task[Task]) -> None:
                if done.cancelled() or done.exception() is not None:
                    with contextlib.suppress(asyncio.QueueFull):
                        queue.put_nowait(None)  # refused: end the stream, then raise below

            running.add_done_callback(ended)
            try:
                async for event in self.events.drain(queue):
                    yield event
            finally:
                if not running.done():  # the client left: the task goes on without it
                    self.runner.keep(running)
            error = None if running.cancelled() else running.exception()
            if error is not None:
                raise error

    async def on_subscribe_to_task(  # noqa: D102
        self, params: SubscribeToTaskRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event, None]:
        record = await self._owned(params.id, context)
        if self.events.subscribers(record.id) >= MAX_SUBSCRIBERS:
            raise UnsupportedOperationError(
                f"the task has {MAX_SUBSCRIBERS} subscribers already", data={"code": "BUSY"}
            )
        with self.events.subscribe(record.id) as queue:
            record = await self._owned(params.id, context)  # read again once subscribed
            if not record.open:
                raise UnsupportedOperationError("the task is finished; use GetTask")
            yield self.runner.task_of(record)
            async for event in self.events.drain(queue):
                yield event

    async def on_get_task(  # noqa: D102
        self, params: GetTaskRequest, context: ServerCallContext
    ) -> Task | None:
        record = await self._owned(params.id, context)
        return apply_history_length(self.runner.task_of(record), params)

    async def on_list_tasks(  # noqa: D102
        self, params: ListTasksRequest, context: ServerCallContext
    ) -> ListTasksResponse:
        agent, caller = self._who(context)
        size = params.page_size or 50
        if not 1 <= size <= MAX_PAGE:
            raise InvalidParamsError(f"pageSize must be between 1 and {MAX_PAGE}")
        try:
            offset = int(params.page_token or 0)
        except ValueError:
            raise InvalidParamsError("pageToken is not one this server gave") from None
        if not 0 <= offset <= 10**9:
            raise InvalidParamsError("pageToken is not one this server gave")
        records, total = await self.store.page(
            caller.identity.did, agent, offset=offset, limit=size
        )
        tasks = []
        for record in records:
            task = self.runner.task_of(record)
            if params.context_id and task.context_id != params.context_id:
                continue
            if params.status and task.status.state != params.status:
                continue
            if not params.include_artifacts:
                task.ClearField("artifacts")
            tasks.append(apply_history_length(task, params))
        more = offset + len(records) < total
        return ListTasksResponse(
            tasks=tasks,
            next_page_token=str(offset + len(records)) if more else "",
            page_size=size,
            total_size=total,
        )

    async def on_cancel_task(  # noqa: D102
        self, params: CancelTaskRequest, context: ServerCallContext
    ) -> Task | None:
        record = await self._owned(params.id, context)
        if not record.open:
            raise TaskNotCancelableError(f"the task is {TaskState.Name(record.state)}")
        task = self.runner.task_of(record)
        task.status.CopyFrom(status_now(TaskState.TASK_STATE_CANCELED))
        await self.runner.settle(record, task, release=True)
        return task

    async def _no_push_notifications(self, params: Any, context: ServerCallContext) -> Any:
        """Push notifications are not offered: streams and GetTask follow a task instead."""
        raise PushNotificationNotSupportedError

    on_create_task_push_notification_config = _no_push_notifications
    on_get_task_push_notification_config = _no_push_notifications
    on_list_task_push_notification_configs = _no_push_notifications
    on_delete_task_push_notification_config = _no_push_notifications

    async def on_get_extended_agent_card(  # noqa: D102
        self, params: GetExtendedAgentCardRequest, context: ServerCallContext
    ) -> AgentCard:
        raise ExtendedAgentCardNotConfiguredError
