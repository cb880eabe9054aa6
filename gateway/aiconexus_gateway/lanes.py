"""Per-recipient lanes that keep offline-store operations in the order they were decided.

Routing decides synchronously where a frame goes; when it goes to the store, the (awaited)
store call is appended to the recipient's lane. Draining the store for a newly registered
session goes through the same lane, so frames stored before the session appeared are always
delivered before frames routed to it live, and per sender-recipient order is kept. Settling
held frames (acknowledged by their recipient, see :mod:`.inflight`) goes through the lane too.
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
            await self._put(recipient, item)

        self._submit(recipient, op)

    def store_later(self, recipient: str, items: Awaitable[list[Outgoing]]) -> None:
        """Reserve the lane's next place for frames known later (a batch still flushing).

        Frames stored for ``recipient`` meanwhile wait behind them, so order is kept.
        """

        async def op() -> None:
            for item in await items:
                if item.agent and item.held is None:
                    await self._put(recipient, item)

        self._submit(recipient, op)

    async def _put(self, recipient: str, item: Outgoing) -> None:
        """Store ``item``; its outcome is reported once the backend has kept it.

        A backend that commits in batches (SQLite) answers with a future: the lane goes on
        with its next operation meanwhile, and the outcome follows the commit.
        """
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
            if kept is not None:
                kept.add_done_callback(partial(self._stored, item, begun))
                return
            self._on_outcome(item, None, "")
        if self._observe_store is not None:
            self._observe_store(time.perf_counter() - begun)

    def drain(
        self,
        recipient: str,
        deliver: Callable[[list[tuple[str, str]]], bool],
        *,
        hold: bool,
        include_held: bool,
    ) -> None:
        """Take the stored frames of ``recipient`` in lane order and hand them to ``deliver``.

        Frames come as (token, frame) pairs. With ``hold`` the backend keeps them (held)
        until :meth:`settle` names their tokens; without, they are settled at once.
        ``include_held`` puts the frames held from an earlier session first. When
        ``deliver`` returns False (the session went away meanwhile) they are stored again.
        """

        async def op() -> None:
            backend = self._backend
            try:
                frames = await backend.hold_stored(recipient, include_held=include_held)
                if not hold:
                    await self._settle(recipient, [token for token, _ in frames])
            except BackendUnavailableError as exc:
                logger.warning("cannot drain the store for %s: %s", recipient, exc)
                frames = []
            if deliver(frames):
                return
            held = [token for token, _ in frames if token]
            if held:  # back to the head of the store, ahead of anything stored since
                try:
                    await backend.unhold(recipient, held)
                except BackendUnavailableError as exc:
                    logger.warning("held frames of %s stay held: %s", recipient, exc)
            for token, frame in frames:
                if token:
                    continue
                try:
                    await backend.store(recipient, frame, frame_sender(frame))
                except (StoreFullError, BackendUnavailableError) as exc:
                    logger.warning("dropped a stored frame for %s: %s", recipient, exc)

        self._submit(recipient, op)

    def _stored(self, item: Outgoing, begun: float, kept: asyncio.Future[None]) -> None:
        error = None if kept.cancelled() else kept.exception()
        if kept.cancelled() or error is not None:
            self._on_outcome(item, ErrorCode.INTERNAL_ERROR, f"store unavailable: {error}")
        else:
            self._on_outcome(item, None, "")
        if self._observe_store is not None:
            self._observe_store(time.perf_counter() - begun)

    def settle(self, recipient: str, tokens: list[str]) -> None:
        """The held frames ``tokens`` of ``recipient`` were acknowledged: drop them for good."""

        async def op() -> None:
            try:
                await self._settle(recipient, tokens)
            except BackendUnavailableError as exc:
                logger.warning("cannot settle held frames of %s: %s", recipient, exc)

        self._submit(recipient, op)

    async def _settle(self, recipient: str, tokens: list[str]) -> None:
        tokens = [token for token in tokens if token]
        if tokens:
            await self._backend.settle_held(recipient, tokens)

    def busy(self, recipient: str) -> bool:
        """True while operations for ``recipient`` are queued or running."""
        return recipient in self._lanes

    def then(self, recipient: str, action: Callable[[], None]) -> None:
        """Run ``action`` once everything already in the recipient's lane is done."""

        async def op() -> None:
            action()

        self._submit(recipient, op)

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
