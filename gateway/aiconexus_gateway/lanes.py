"""Per-recipient lanes that keep offline-store operations in the order they were decided.

Routing decides synchronously where a frame goes; when it goes to the store, the (awaited)
store call is appended to the recipient's lane. Draining the store for a newly registered
session goes through the same lane, so frames stored before the session appeared are always
delivered before frames routed to it live, and per sender-recipient order is kept.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from functools import partial

from aiconexus.protocol import ErrorCode

from .backend._store_quota import frame_sender
from .backend.base import (
    Backend,
    BackendUnavailableError,
    StoreFullError,
    UnseenRecipientError,
)
from .session import Outgoing

__all__ = ["StoreLanes", "StoreOutcome"]

logger = logging.getLogger("aiconexus.gateway")

StoreOutcome = Callable[[Outgoing, ErrorCode | None, str], None]
"""Called once per item: code None when stored, else the error code and why it was refused."""

_Op = Callable[[], Awaitable[None]]


class StoreLanes:
    """One FIFO of store operations per recipient, each run by a short-lived task."""

    def __init__(
        self,
        backend: Backend,
        on_outcome: StoreOutcome,
        *,
        observe_store: Callable[[float], None] | None = None,
    ) -> None:
        self._backend = backend
        self._on_outcome = on_outcome
        self._observe_store = observe_store
        self._lanes: dict[str, deque[_Op]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def store(self, recipient: str, item: Outgoing) -> None:
        """Store ``item`` for ``recipient`` after everything already in its lane."""

        async def op() -> None:
            begun = time.perf_counter()
            sender = item.ack_to if item.ack_to is not None else frame_sender(item.frame)
            try:
                kept = await self._backend.begin_store(recipient, item.frame, sender, item.ack_id)
            except UnseenRecipientError as exc:
                self._on_outcome(item, ErrorCode.UNKNOWN_AGENT, str(exc))
            except StoreFullError as exc:
                self._on_outcome(item, ErrorCode.QUEUE_FULL, str(exc))
            except BackendUnavailableError as exc:
                self._on_outcome(item, ErrorCode.INTERNAL_ERROR, f"store unavailable: {exc}")
            else:
                if kept is None:
                    self._on_outcome(item, None, "")
                else:  # the next operation of the lane need not wait for this one to be kept
                    kept.add_done_callback(partial(self._settle, item, begun))
                    return
            if self._observe_store is not None:
                self._observe_store(time.perf_counter() - begun)

        self._submit(recipient, op)

    def drain(self, recipient: str, deliver: Callable[[list[str]], bool]) -> None:
        """Take the stored frames of ``recipient`` in lane order and hand them to ``deliver``.

        When ``deliver`` returns False (the session went away meanwhile) they are stored again.
        """

        async def op() -> None:
            try:
                frames = await self._backend.take_stored(recipient)
            except BackendUnavailableError as exc:
                logger.warning("cannot drain the store for %s: %s", recipient, exc)
                frames = []
            if deliver(frames):
                return
            for frame in frames:
                try:
                    await self._backend.store(recipient, frame, frame_sender(frame))
                except (StoreFullError, BackendUnavailableError) as exc:
                    logger.warning("dropped a stored frame for %s: %s", recipient, exc)

        self._submit(recipient, op)

    def _settle(self, item: Outgoing, begun: float, kept: asyncio.Future[None]) -> None:
        error = None if kept.cancelled() else kept.exception()
        if kept.cancelled() or error is not None:
            self._on_outcome(item, ErrorCode.INTERNAL_ERROR, f"store unavailable: {error}")
        else:
            self._on_outcome(item, None, "")
        if self._observe_store is not None:
            self._observe_store(time.perf_counter() - begun)

    def _submit(self, recipient: str, op: _Op) -> None:
        lane = self._lanes.get(recipient)
        if lane is not None:
            lane.append(op)
            return
        self._lanes[recipient] = deque([op])
        task = asyncio.get_running_loop().create_task(self._run(recipient))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, recipient: str) -> None:
        lane = self._lanes[recipient]
        try:
            while lane:
                try:
                    await lane[0]()
                except Exception:
                    logger.exception("store operation for %s failed", recipient)
                lane.popleft()
        finally:
            if not lane:
                self._lanes.pop(recipient, None)

    async def idle(self) -> None:
        """Wait until every lane has run dry (used at shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
