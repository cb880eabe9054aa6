"""Per-recipient lanes that keep offline-store operations in the order they were decided.

Routing decides synchronously where a frame goes; when it goes to the store, the (awaited)
store call is appended to the recipient's lane. Draining the store for a newly registered
session goes through the same lane, so frames stored before the session appeared are always
delivered before frames routed to it live, and per sender-recipient order is kept. Settling
held frames (acknowledged by their recipient, see :mod:`.delivery`) goes through the lane too.

When the backend is unreachable (a Redis outage), nothing acknowledged is forgotten: held
frames that could not be settled stay listed here and are settled again (with a growing
pause, SETTLE_RETRY: 0.5 s doubling up to 5 s) until the backend takes it, always before the
recipient's next drain, and a drain never hands them out again meanwhile. A drain that fails
tells its caller (``on_unavailable``), which tries it again later.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from functools import partial

from aiconexus.backoff import Backoff
from aiconexus.protocol import ErrorCode
from aiconexus_gateway.backend._store_quota import frame_sender
from aiconexus_gateway.backend.base import (
    Backend,
    BackendUnavailableError,
    StoreFullError,
    UnseenRecipientError,
)

from .outgoing import Outgoing

__all__ = ["StoreLanes", "StoreOutcome"]

logger = logging.getLogger("aiconexus.gateway")

StoreOutcome = Callable[[Outgoing, ErrorCode | None, str], None]
"""Called once per item: code None when stored, else the error code and why it was refused."""

_Op = Callable[[], Awaitable[None]]

SETTLE_RETRY = Backoff(initial_delay=0.5, max_delay=5.0, jitter=0.0)
"""Pauses between two tries to settle a recipient's frames (reset once they are settled)."""


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
        self._unsettled: dict[str, list[str]] = {}
        """Per recipient: tokens of acknowledged held frames not yet settled in the backend."""
        self._settle_pauses: dict[str, Iterator[float]] = {}
        """Per recipient whose settling failed: the pause before the last retry."""
        self._settle_scheduled: set[str] = set()

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
        sender = item.sender if item.sender is not None else frame_sender(item.frame)
        try:
            kept = await self._backend.begin_store(recipient, item.frame, sender, item.message_id)
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
        on_unavailable: Callable[[], None] | None = None,
    ) -> None:
        """Take the stored frames of ``recipient`` in lane order and hand them to ``deliver``.

        Frames come as (token, frame) pairs. With ``hold`` the backend keeps them (held)
        until :meth:`settle` names their tokens; without, they are settled at once.
        ``include_held`` puts the frames held from an earlier session first (never those
        acknowledged already: those are settled first). When ``deliver`` returns False (the
        session went away meanwhile) they are stored again. When the backend is unreachable
        ``deliver`` gets no frames and ``on_unavailable`` is called.
        """

        async def op() -> None:
            backend = self._backend
            try:
                await self._flush_settles(recipient)
                frames = await backend.hold_stored(recipient, include_held=include_held)
                if not hold:
                    await self._settle(recipient, [token for token, _ in frames])
            except BackendUnavailableError as exc:
                logger.warning("cannot drain the store for %s: %s", recipient, exc)
                deliver([])
                if on_unavailable is not None:
                    on_unavailable()
                return
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
        """The held frames ``tokens`` of ``recipient`` were acknowledged: drop them for good.

        Kept (and tried again) until the backend took it.
        """
        tokens = [token for token in tokens if token]
        if not tokens:
            return
        self._unsettled.setdefault(recipient, []).extend(tokens)
        self._submit(recipient, partial(self._settle_or_retry, recipient))

    async def _settle_or_retry(self, recipient: str) -> None:
        try:
            await self._flush_settles(recipient)
        except BackendUnavailableError as exc:
            logger.warning("cannot settle held frames of %s yet: %s", recipient, exc)
            self._retry_settle(recipient)

    async def _flush_settles(self, recipient: str) -> None:
        """Settle what waits for ``recipient``; BackendUnavailableError leaves it waiting."""
        tokens = self._unsettled.get(recipient)
        if not tokens:
            return
        count = len(tokens)
        await self._backend.settle_held(recipient, tokens[:count])
        del tokens[:count]
        if not tokens:
            self._unsettled.pop(recipient, None)
            self._settle_pauses.pop(recipient, None)

    def _retry_settle(self, recipient: str) -> None:
        if recipient in self._settle_scheduled:
            return
        pause = next(self._settle_pauses.setdefault(recipient, SETTLE_RETRY.delays()))
        self._settle_scheduled.add(recipient)

        def again() -> None:
            self._settle_scheduled.discard(recipient)
            if recipient in self._unsettled:
                self._submit(recipient, partial(self._settle_or_retry, recipient))

        asyncio.get_running_loop().call_later(pause, again)

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
