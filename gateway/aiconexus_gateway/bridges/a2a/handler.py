"""The A2A request handler: each A2A call becomes calls of the gateway by a caller identity.

:class:`BridgeRequestHandler` implements a2a-sdk's ``RequestHandler``; a2a-sdk's own
JSON-RPC and HTTP+JSON dispatchers parse requests, call it and encode its answers and
errors. ``context.state`` names the agent (``agent``, from the URL) and the caller
(``caller``, from the bearer token; see :mod:`.app`).

SendMessage signs an EXEC_REQUEST from the caller's identity (its frame id is the task id),
sealed for the agent when it asks for it (``context.state["encrypt"]``), and waits for the
answer: the task is COMPLETED or FAILED. When the gateway queues it (the
agent is offline) or no answer comes in time, the task is returned WORKING and stays open:
the answer completes it whenever it arrives, also after a restart (the task is stored).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncGenerator
from typing import Any

from a2a.server.context import ServerCallContext
from a2a.server.request_handlers.request_handler import RequestHandler
from a2a.types import (
    AgentCard,
    CancelTaskRequest,
    DeleteTaskPushNotificationConfigRequest,
    GetExtendedAgentCardRequest,
    GetTaskPushNotificationConfigRequest,
    GetTaskRequest,
    ListTaskPushNotificationConfigsRequest,
    ListTaskPushNotificationConfigsResponse,
    ListTasksRequest,
    ListTasksResponse,
    Message,
    Part,
    Role,
    SendMessageRequest,
    SubscribeToTaskRequest,
    Task,
    TaskArtifactUpdateEvent,
    TaskPushNotificationConfig,
    TaskState,
    TaskStatus,
    TaskStatusUpdateEvent,
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

from aiconexus import Identity
from aiconexus import Message as Frame

from ..callers import Callers
from ..pool import Answered, ClientPool, Queued, Refused, TimedOut, Unavailable, exec_request
from .events import Event, TaskEvents
from .mapping import TERMINAL_STATES, a2a_error, args_of, finish_task
from .store import TaskRecord, TaskStore

__all__ = ["BridgeRequestHandler", "Caller"]

logger = logging.getLogger("aiconexus.bridge.a2a")

MAX_PAGE = 100
"""The largest ListTasks page."""

MAX_BACKGROUND = 1024
"""Most requests running after their SendMessage returned (``returnImmediately``)."""

MAX_SUBSCRIBERS = 16
"""Most streams watching one task at once."""

MAX_TASKS = 10_000
"""Most tasks one caller may have kept at one agent; beyond, SendMessage is refused."""


class Caller:
    """Who makes a call: a caller name and its identity."""

    __slots__ = ("identity", "name")

    def __init__(self, name: str, identity: Identity) -> None:
        self.name = name
        self.identity = identity


def _now_status(state: int, message: Message | None = None) -> TaskStatus:
    status = TaskStatus(state=state)  # type: ignore[arg-type]
    if message is not None:
        status.message.CopyFrom(message)
    status.timestamp.GetCurrentTime()
    return status


class BridgeRequestHandler(RequestHandler):
    """a2a-sdk's ``RequestHandler`` over a :class:`~..pool.ClientPool` (see the module)."""

    def __init__(
        self,
        pool: ClientPool,
        callers: Callers,
        store: TaskStore,
        *,
        timeout_s: float = 30.0,
        encrypt: bool = False,
        max_tasks: int = MAX_TASKS,
    ) -> None:
        self.pool = pool
        self.max_tasks = max_tasks
        self.callers = callers
        self.store = store
        self.timeout_s = timeout_s
        self.encrypt = encrypt
        self.events = TaskEvents()
        self._running: set[asyncio.Task[Any]] = set()
        pool.on_late = self.late_answer

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

    # -- tasks -----------------------------------------------------------------------------
    async def _save(self, record: TaskRecord, task: Task) -> TaskRecord:
        state = task.status.state
        updated = record.with_task(
            task.SerializeToString(), int(state), state not in TERMINAL_STATES, time.time()
        )
        await self.store.put(updated)
        return updated

    @staticmethod
    def _task(record: TaskRecord) -> Task:
        task = Task()
        task.ParseFromString(record.task)
        return task

    def _publish(self, task: Task) -> None:
        final = task.status.state in TERMINAL_STATES
        if task.artifacts and final:
            for artifact in task.artifacts:
                self.events.publish(
                    task.id,
                    TaskArtifactUpdateEvent(
                        task_id=task.id,
                        context_id=task.context_id,
                        artifact=artifact,
                        last_chunk=True,
                    ),
                )
        update = TaskStatusUpdateEvent(
            task_id=task.id, context_id=task.context_id, status=task.status
        )
        update.metadata.CopyFrom(task.metadata)
        self.events.publish(task.id, update, final=final)

    async def _start(
        self, params: SendMessageRequest, context: ServerCallContext
    ) -> tuple[TaskRecord, Task, Frame, Caller]:
        """Check the request, store the new task (WORKING) and sign its EXEC_REQUEST."""
        agent, caller = self._who(context)
        message = params.message
        if message.task_id:
            raise UnsupportedOperationError(
                "a task takes one message: start a new task (no taskId)",
                data={"code": "TASK_CONTINUATION"},
            )
        if message.role == Role.ROLE_AGENT:
            raise InvalidParamsError("the message must have the role user")
        args = args_of(message)
        if await self.store.count(caller.identity.did, agent) >= self.max_tasks:
            raise UnsupportedOperationError(
                f"this caller keeps {self.max_tasks} tasks at this agent already",
                data={"code": "QUEUE_FULL", "agent": agent},
            )
        task_id = str(uuid.uuid4())
        context_id = message.context_id or str(uuid.uuid4())
        frame = exec_request(
            caller.identity,
            agent,
            args,
            timeout_s=self.timeout_s,
            id=task_id,
            encrypt=self.encrypt or context.state.get("encrypt") is True,
        )
        user = Message()
        user.CopyFrom(message)
        user.task_id, user.context_id = task_id, context_id
        if not user.message_id:
            user.message_id = str(uuid.uuid4())
        task = Task(id=task_id, context_id=context_id, history=[user])
        task.status.CopyFrom(_now_status(TaskState.TASK_STATE_WORKING))
        record = TaskRecord(
            id=task_id,
            caller=caller.name,
            owner=caller.identity.did,
            agent=agent,
            context_id=context_id,
            state=int(TaskState.TASK_STATE_WORKING),
            open=True,
            updated=time.time(),
            task=b"",
        )
        record = await self._save(record, task)
        return record, task, frame, caller

    async def _run(self, record: TaskRecord, task: Task, frame: Frame, caller: Caller) -> Task:
        """Send the request; the task as the outcome leaves it (stored and published)."""
        outcome = await self.pool.request(frame, caller.identity, timeout_s=self.timeout_s)
        if isinstance(outcome, Answered):
            current = await self.store.get(record.id)
            if current is not None and not current.open:
                return self._task(current)  # canceled meanwhile
            finish_task(task, outcome.response)
            task.status.timestamp.GetCurrentTime()
            await self._save(record, task)
            self._publish(task)
            return task
        if isinstance(outcome, Queued | TimedOut):
            self.pool.pin(caller.identity)
            why = (
                "queued: the agent is offline; the task completes when it answers"
                if isinstance(outcome, Queued)
                else "delivered: no answer yet; the task completes when the agent answers"
            )
            note = Message(
                message_id=f"{task.id}-waiting",
                task_id=task.id,
                context_id=task.context_id,
                role=Role.ROLE_AGENT,
                parts=[Part(text=why)],
            )
            task.status.CopyFrom(_now_status(TaskState.TASK_STATE_WORKING, note))
            delivery = "queued" if isinstance(outcome, Queued) else "delivered"
            task.metadata.update({"aiconexus": {"delivery": delivery}})
            await self._save(record, task)
            self._publish(task)
            return task
        await self.store.delete(record.id)
        if isinstance(outcome, Refused):
            raise a2a_error(outcome.error, record.agent)
        assert isinstance(outcome, Unavailable)
        raise InternalError(outcome.reason, data={"code": "UNAVAILABLE"})

    def _keep(self, running: asyncio.Task[Any]) -> None:
        """Hold a background task until it ends (``aclose`` cancels those still running)."""
        self._running.add(running)
        running.add_done_callback(self._running.discard)

    async def late_answer(self, answer: Frame) -> None:
        """An answer nobody waited for: complete its open task, if any (the pool's on_late)."""
        task_id = answer.correlation_id
        record = await self.store.get(task_id) if task_id else None
        if record is None or not record.open or answer.from_ != record.agent:
            return
        if answer.to != record.owner:
            return
        task = self._task(record)
        finish_task(task, answer)
        task.status.timestamp.GetCurrentTime()
        await self._save(record, task)
        self.pool.unpin(self.callers.identity(record.caller))
        self._publish(task)

    async def resume(self) -> int:
        """Reopen, in the background, the callers with open tasks (after a restart).

        Their answers may wait in the gateway's store for them. Returns how many tasks are
        open; the clients connect once the gateway listens (retried until then).
        """
        open_tasks = await self.store.open_tasks()
        waiting: dict[str, int] = {}
        for record in open_tasks:
            waiting[record.caller] = waiting.get(record.caller, 0) + 1
        for name, count in waiting.items():
            self._keep(asyncio.create_task(self._reopen(name, count), name=f"a2a-resume-{name}"))
        return len(open_tasks)

    async def _reopen(self, name: str, tasks: int) -> None:
        identity = self.callers.identity(name)
        delay = 0.05
        while True:
            try:
                await self.pool.client(identity)
            except Exception as exc:  # the gateway may not listen yet
                logger.debug("reopening the bridge caller %s: %s", name, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            for _ in range(tasks):
                self.pool.pin(identity)
            return

    # -- RequestHandler --------------------------------------------------------------------
    async def on_message_send(  # noqa: D102
        self, params: SendMessageRequest, context: ServerCallContext
    ) -> Task | Message:
        if params.configuration.return_immediately and len(self._running) >= MAX_BACKGROUND:
            raise UnsupportedOperationError(
                f"more than {MAX_BACKGROUND} tasks already run in the background; retry later",
                data={"code": "BUSY"},
            )
        record, task, frame, caller = await self._start(params, context)
        if params.configuration.return_immediately:
            self._keep(asyncio.create_task(self._background(record, task, frame, caller)))
            return task
        return apply_history_length(
            await self._run(record, task, frame, caller), params.configuration
        )

    async def _background(
        self, record: TaskRecord, task: Task, frame: Frame, caller: Caller
    ) -> None:
        try:
            await self._run(record, task, frame, caller)
        except Exception as exc:  # refused after the client left: the task records it
            failed = _now_status(
                TaskState.TASK_STATE_REJECTED,
                Message(
                    message_id=f"{task.id}-refused",
                    role=Role.ROLE_AGENT,
                    parts=[Part(text=str(exc))],
                ),
            )
            task.status.CopyFrom(failed)
            await self._save(record, task)
            self._publish(task)

    async def on_message_send_stream(  # noqa: D102
        self, params: SendMessageRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event, None]:
        record, task, frame, caller = await self._start(params, context)
        with self.events.subscribe(task.id) as queue:
            yield task
            running = asyncio.create_task(self._run(record, task, frame, caller))

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
                    self._keep(running)
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
            yield self._task(record)
            async for event in self.events.drain(queue):
                yield event

    async def on_get_task(  # noqa: D102
        self, params: GetTaskRequest, context: ServerCallContext
    ) -> Task | None:
        record = await self._owned(params.id, context)
        return apply_history_length(self._task(record), params)

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
            task = self._task(record)
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
        task = self._task(record)
        task.status.CopyFrom(_now_status(TaskState.TASK_STATE_CANCELED))
        await self._save(record, task)
        self.pool.unpin(self.callers.identity(record.caller))
        self._publish(task)
        return task

    async def on_create_task_push_notification_config(  # noqa: D102
        self, params: TaskPushNotificationConfig, context: ServerCallContext
    ) -> TaskPushNotificationConfig:
        raise PushNotificationNotSupportedError

    async def on_get_task_push_notification_config(  # noqa: D102
        self, params: GetTaskPushNotificationConfigRequest, context: ServerCallContext
    ) -> TaskPushNotificationConfig:
        raise PushNotificationNotSupportedError

    async def on_list_task_push_notification_configs(  # noqa: D102
        self, params: ListTaskPushNotificationConfigsRequest, context: ServerCallContext
    ) -> ListTaskPushNotificationConfigsResponse:
        raise PushNotificationNotSupportedError

    async def on_delete_task_push_notification_config(  # noqa: D102
        self, params: DeleteTaskPushNotificationConfigRequest, context: ServerCallContext
    ) -> None:
        raise PushNotificationNotSupportedError

    async def on_get_extended_agent_card(  # noqa: D102
        self, params: GetExtendedAgentCardRequest, context: ServerCallContext
    ) -> AgentCard:
        raise ExtendedAgentCardNotConfiguredError

    async def aclose(self) -> None:
        """Stop the requests still running in the background."""
        for running in list(self._running):
            running.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
