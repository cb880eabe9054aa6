"""A task's life in the A2A bridge: stored, sent as an EXEC_REQUEST, settled by its answer.

:class:`TaskRunner` starts a task (checks the message, stores it WORKING, signs the
EXEC_REQUEST from the caller's identity, its frame id the task id, sealed for the agent when
it asks for it), sends it through the :class:`~..pool.ClientPool` and settles the task with
what happens: COMPLETED or FAILED with the answer; WORKING and open when the gateway queued
it (the agent is offline) or no answer came in time. Then the answer completes the task
whenever it arrives (the pool's ``on_late``), also after a restart: :meth:`TaskRunner.resume`
reopens the callers of open tasks. Every change is stored, then published to the task's
streams (:class:`.events.TaskEvents`).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

from a2a.types import (
    Message,
    Role,
    Task,
    TaskArtifactUpdateEvent,
    TaskState,
    TaskStatusUpdateEvent,
)
from a2a.utils.errors import InternalError, InvalidParamsError, UnsupportedOperationError

from aiconexus import Backoff, Identity
from aiconexus import Message as Frame

from ..callers import Callers
from ..pool import Answered, ClientPool, Queued, Refused, TimedOut, Unavailable, exec_request
from .events import TaskEvents
from .mapping import TERMINAL_STATES, a2a_error, agent_message, args_of, finish_task, status_now
from .store import TaskRecord, TaskStore

__all__ = ["MAX_BACKGROUND", "MAX_TASKS", "Caller", "Started", "TaskRunner"]

logger = logging.getLogger("aiconexus.bridge.a2a")

MAX_BACKGROUND = 1024
"""Most requests running after their SendMessage returned (``returnImmediately``)."""

MAX_TASKS = 10_000
"""Most tasks one caller may have kept at one agent; beyond, SendMessage is refused."""


REOPEN_RETRIES = Backoff(initial_delay=0.05, max_delay=5.0)
"""Delays between attempts to reopen a caller after a restart (the gateway may not listen)."""


class Caller:
    """Who makes a call: a caller name and its identity."""

    __slots__ = ("identity", "name")

    def __init__(self, name: str, identity: Identity) -> None:
        self.name = name
        self.identity = identity


class Started:
    """A task just stored WORKING, with the signed request that will settle it."""

    __slots__ = ("caller", "frame", "record", "task")

    def __init__(self, record: TaskRecord, task: Task, frame: Frame, caller: Caller) -> None:
        self.record = record
        self.task = task
        self.frame = frame
        self.caller = caller


class TaskRunner:
    """Starts, sends and settles the bridge's tasks (see the module)."""

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
        self.callers = callers
        self.store = store
        self.timeout_s = timeout_s
        self.encrypt = encrypt
        self.max_tasks = max_tasks
        self.events = TaskEvents()
        self._running: set[asyncio.Task[Any]] = set()
        pool.on_late = self.late_answer

    # -- stored tasks ----------------------------------------------------------------------
    @staticmethod
    def task_of(record: TaskRecord) -> Task:
        """The A2A task a record holds."""
        task = Task()
        task.ParseFromString(record.task)
        return task

    async def _save(self, record: TaskRecord, task: Task) -> TaskRecord:
        state = task.status.state
        updated = record.with_task(
            task.SerializeToString(), int(state), state not in TERMINAL_STATES, time.time()
        )
        await self.store.put(updated)
        return updated

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

    async def settle(self, record: TaskRecord, task: Task, *, release: bool = False) -> None:
        """Store ``task``'s change and publish it; ``release``: its caller's client may close."""
        await self._save(record, task)
        if release:
            self.pool.unpin(self.callers.identity(record.caller))
        self._publish(task)

    # -- a task's life ---------------------------------------------------------------------
    async def start(self, message: Message, agent: str, caller: Caller, encrypt: bool) -> Started:
        """Check ``message``, store its new task (WORKING) and sign its EXEC_REQUEST."""
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
            encrypt=self.encrypt or encrypt,
        )
        user = Message()
        user.CopyFrom(message)
        user.task_id, user.context_id = task_id, context_id
        if not user.message_id:
            user.message_id = str(uuid.uuid4())
        task = Task(id=task_id, context_id=context_id, history=[user])
        task.status.CopyFrom(status_now(TaskState.TASK_STATE_WORKING))
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
        return Started(await self._save(record, task), task, frame, caller)

    async def run(self, started: Started) -> Task:
        """Send the request; the task as the outcome leaves it (stored and published)."""
        record, task, caller = started.record, started.task, started.caller
        outcome = await self.pool.request(started.frame, caller.identity, timeout_s=self.timeout_s)
        if isinstance(outcome, Answered):
            current = await self.store.get(record.id)
            if current is not None and not current.open:
                return self.task_of(current)  # canceled meanwhile
            finish_task(task, outcome.response)
            await self.settle(record, task)
            return task
        if isinstance(outcome, Queued | TimedOut):
            self.pool.pin(caller.identity)
            queued = isinstance(outcome, Queued)
            why = (
                "queued: the agent is offline; the task completes when it answers"
                if queued
                else "delivered: no answer yet; the task completes when the agent answers"
            )
            note = agent_message(task, why, "waiting")
            task.status.CopyFrom(status_now(TaskState.TASK_STATE_WORKING, note))
            task.metadata.update({"aiconexus": {"delivery": "queued" if queued else "delivered"}})
            await self.settle(record, task)
            return task
        await self.store.delete(record.id)
        if isinstance(outcome, Refused):
            raise a2a_error(outcome.error, record.agent)
        assert isinstance(outcome, Unavailable)
        raise InternalError(outcome.reason, data={"code": "UNAVAILABLE"})

    def busy(self) -> bool:
        """True when :data:`MAX_BACKGROUND` requests run in the background already."""
        return len(self._running) >= MAX_BACKGROUND

    def keep(self, running: asyncio.Task[Any]) -> None:
        """Hold a background task until it ends (:meth:`aclose` cancels those still running)."""
        self._running.add(running)
        running.add_done_callback(self._running.discard)

    def run_in_background(self, started: Started) -> None:
        """:meth:`run` after the SendMessage returned; a refusal then REJECTS the task."""
        self.keep(asyncio.create_task(self._background(started)))

    async def _background(self, started: Started) -> None:
        try:
            await self.run(started)
        except Exception as exc:  # refused after the client left: the task records it
            task = started.task
            note = agent_message(task, str(exc), "refused")
            task.status.CopyFrom(status_now(TaskState.TASK_STATE_REJECTED, note))
            await self.settle(started.record, task)

    async def late_answer(self, answer: Frame) -> None:
        """An answer nobody waited for: complete its open task, if any (the pool's on_late)."""
        task_id = answer.correlation_id
        record = await self.store.get(task_id) if task_id else None
        if record is None or not record.open or answer.from_ != record.agent:
            return
        if answer.to != record.owner:
            return
        task = self.task_of(record)
        finish_task(task, answer)
        await self.settle(record, task, release=True)

    # -- restarts --------------------------------------------------------------------------
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
            self.keep(asyncio.create_task(self._reopen(name, count), name=f"a2a-resume-{name}"))
        return len(open_tasks)

    async def _reopen(self, name: str, tasks: int) -> None:
        identity = self.callers.identity(name)
        delays = REOPEN_RETRIES.delays()
        while True:
            try:
                await self.pool.client(identity)
            except Exception as exc:  # the gateway may not listen yet
                logger.debug("reopening the bridge caller %s: %s", name, exc)
                await asyncio.sleep(next(delays))
                continue
            for _ in range(tasks):
                self.pool.pin(identity)
            return

    async def aclose(self) -> None:
        """Stop the requests still running in the background."""
        for running in list(self._running):
            running.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
