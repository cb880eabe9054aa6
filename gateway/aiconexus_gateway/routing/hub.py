"""The hub: this node's live sessions and every path a frame can take between them.

Routing decisions are synchronous (a local session takes the frame, or it goes to the
recipient's store lane), so a sender is never blocked by a recipient. A recipient whose
bounded send queue is full is closed as a slow consumer and its unsent frames go back to
the store, in order. Every accepted frame is acknowledged once (ACKs of one loop iteration
are coalesced per sender and status, :mod:`.replies`) or answered by one ERROR. When a
frame is delivered is decided by the recipient session's :mod:`.delivery` and acted on here
(:meth:`Hub.delivered`); shutdown drains first (:mod:`.drain`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Coroutine, Mapping
from typing import Any

from aiconexus.protocol import CloseCode, ErrorCode
from aiconexus_gateway.backend.base import BackendUnavailableError
from aiconexus_gateway.observation.directory_events import DirectoryChanges
from aiconexus_gateway.tasks import stop_task
from aiconexus_gateway.transport.asgi import ASGISend

from .delivery import Delivered
from .drain import DrainReport, held_frames, wait_drained
from .lanes import StoreLanes
from .outgoing import Kind, Outgoing
from .parts import Parts
from .presence import presence_record, presence_records
from .replies import Replies
from .session import Session, SessionState
from .stored_delivery import StoredDelivery

__all__ = ["Hub"]

logger = logging.getLogger("aiconexus.gateway")


class Hub:
    """Live sessions of this node, routing between them, and the backend hooks.

    Built from the node's :class:`~.parts.Parts`; what it changes it changes through its
    own methods. Its answers to senders (ACKs, ERRORs) are :attr:`replies`.
    """

    def __init__(self, parts: Parts) -> None:
        self._parts = parts
        self.settings = parts.settings
        self.backend = parts.backend
        self._metrics = parts.metrics
        self._node = parts.node
        self._sessions: dict[str, Session] = {}
        self._by_id: dict[str, Session] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._cleanup: asyncio.Task[None] | None = None
        self.replies = Replies(parts, self._sessions, close=self.evict, spawn=self.spawn)
        """ACKs and ERRORs to senders (:mod:`.replies`)."""
        self.lanes = StoreLanes(
            parts.backend,
            self.replies.store_outcome,
            observe_store=parts.metrics.store_time.observe,
        )
        self.stored = StoredDelivery(self.lanes, parts.frames, parts.settings.heartbeat_interval)
        """Hands sessions their stored frames (:mod:`.stored_delivery`)."""
        self.directory = DirectoryChanges()
        """Word of this node's directory changes (``GET /agents/events``)."""

    # what observers read (observation.sampler.NodeView) ------------------------------------
    @property
    def did(self) -> str:
        """The gateway's DID."""
        return self._parts.did

    @property
    def stopping(self) -> bool:
        """True once shutdown began: new connections are refused."""
        return self._node.stopping

    @property
    def connections(self) -> int:
        """Connections open now."""
        return self._node.connections

    @property
    def registered(self) -> int:
        """Registered sessions of this node."""
        return len(self._sessions)

    @property
    def started_at(self) -> float:
        """When this node started (``time.time()``)."""
        return self._node.started_at

    @property
    def sessions(self) -> Mapping[str, Session]:
        """The live session of each registered DID here (read-only: only the hub changes it)."""
        return self._sessions

    # NodeHooks --------------------------------------------------------------------------------
    @property
    def node_id(self) -> str:
        """The id of this node."""
        return self.settings.node_id

    def deliver_local(self, recipient: str, frame: str) -> bool:
        """Queue a frame from another node for a local session; False if there is none.

        Also False while draining (the backend then stores it for the agent's next node).
        """
        if self._node.stopping:
            return False
        return self.deliver(recipient, Outgoing(frame, Kind.LIVE))

    def replaced(self, did: str, session_id: str) -> None:
        """Close the local session ``session_id``: a newer REGISTER of ``did`` took over."""
        session = self._by_id.get(session_id)
        if session is not None:
            self.evict(session, CloseCode.REPLACED, "replaced")

    def stored_available(self, did: str) -> None:
        """Frames were stored for ``did`` while it is connected here: deliver them.

        Not before the session's own first drain (after REGISTERED) took what was stored,
        nor while this node drains (they wait for the agent's next session).
        """
        if self._node.stopping:
            return
        session = self._sessions.get(did)
        if session is not None and session.state is SessionState.REGISTERED and session.writing:
            self.stored.drain(session, None)

    # lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the backend and the periodic cleanup."""
        await self._parts.crypto.start()
        await self.backend.start(self)
        self._cleanup = asyncio.get_running_loop().create_task(self._cleanup_loop())

    async def close_sessions(self, drain_timeout: float = 0.0) -> DrainReport:
        """Drain (see :mod:`.drain`), then close every session with 1001 (going away).

        Used when the process stops; what sessions still hold goes to the store.
        """
        self._node.stop()
        self.directory.close()
        sessions = list(self._by_id.values())
        delivered = self._metrics.delivered
        waited = 0.0
        if drain_timeout > 0:
            waited = await wait_drained(sessions, drain_timeout, lambda: self.replies.pending)
        left = sum(held_frames(s) for s in sessions if not s.closed)
        for session in sessions:
            self.evict(session, CloseCode.GOING_AWAY, "shutdown", close=False)
        # What they held is in the store before any client can reconnect to another node.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                await self.lanes.idle()
                await asyncio.gather(*self._tasks, return_exceptions=True)
        for session in sessions:
            session.request_close(CloseCode.GOING_AWAY, "shutdown")
        if sessions:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    await asyncio.gather(*(s.closed_sent() for s in sessions))
        return DrainReport(len(sessions), self._metrics.delivered - delivered, left, waited)

    async def stop(self) -> None:
        """Close sessions, let store lanes finish briefly, stop the backend."""
        await self.close_sessions()
        await stop_task(self._cleanup)
        await self._parts.uncertain.stop()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                await self.lanes.idle()
        await self.backend.close()
        self._parts.crypto.stop()

    async def _cleanup_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.cleanup_interval)
            try:
                await self.backend.refresh(presence_records(self._sessions.values(), self.node_id))
            except Exception as exc:
                logger.warning("presence refresh failed: %r", exc)

    # registration -----------------------------------------------------------------------------
    def open(self, send: ASGISend, *, peer: str, address: str, batched: bool) -> Session:
        """A new session of a connection just accepted (its owner: this hub)."""
        parts = self._parts
        return Session(
            send,
            session_id=uuid.uuid4().hex,
            peer=peer,
            address=address,
            limits=parts.session_limits,
            owner=self,
            metrics=parts.metrics,
            batched=batched,
            budget=parts.budget,
        )

    async def register(self, session: Session, register_id: str) -> None:
        """Make ``session`` the live session of its DID; REGISTERED + stored frames follow.

        Raises BackendUnavailableError (the caller answers ERROR and closes).
        """
        did = session.did
        assert did is not None
        previous = self._sessions.get(did)
        if previous is not None and previous is not session:
            self.evict(previous, CloseCode.REPLACED, "replaced")
        self._by_id[session.session_id] = session
        self._sessions[did] = session
        session.advance(SessionState.REGISTERED)
        try:
            await self.backend.claim(presence_record(session, self.node_id))
        except BackendUnavailableError:
            unsent = session.terminate("backend unavailable")
            self._forget(session)
            self._restore(session, unsent)
            raise
        self.directory.changed()
        self.stored.drain(session, register_id)

    def end(self, session: Session) -> None:
        """The connection is gone: forget the session and store what it had not written."""
        unsent = session.terminate("disconnected")
        if session.did is not None and session.session_id in self._by_id:
            self._forget(session)
            self._restore(session, unsent)

    # delivery ---------------------------------------------------------------------------------
    def deliver(self, recipient: str, item: Outgoing) -> bool:
        """Queue ``item`` to a local session of ``recipient``; False if there is none here.

        A full queue closes that session as a slow consumer; the frame is then stored. While
        a store operation of ``recipient`` is running (e.g. stored frames being fetched), the
        frame waits behind it in the recipient's lane, so that it cannot overtake them.
        """
        session = self._sessions.get(recipient)
        if session is None:
            return False
        if self.lanes.busy(recipient):
            self.lanes.then(recipient, lambda: self._hand_over(recipient, item))
        else:
            self._hand_over(recipient, item)
        return True

    def _hand_over(self, recipient: str, item: Outgoing) -> None:
        session = self._sessions.get(recipient)
        if session is not None and session.enqueue(item):
            return
        if session is not None:
            self.evict(session, CloseCode.TRY_AGAIN_LATER, "slow consumer")
        self.store(recipient, item)

    def store(self, recipient: str, item: Outgoing) -> None:
        """Put ``item`` into the offline store of ``recipient`` (refused when storing is off)."""
        if not self.settings.storing_enabled:
            self.replies.store_outcome(item, ErrorCode.UNKNOWN_AGENT, "recipient is not connected")
            return
        self.lanes.store(recipient, item)

    def delivered(self, session: Session, verdict: Delivered) -> None:
        """Act on the verdict of ``session``'s :class:`~.delivery.Delivery`.

        Each frame is counted, its sender is ACKed ``delivered``, and the store frames it
        held are settled. The one place "delivered" is acted on.
        """
        if session.closed and session.delivery.acknowledging:
            return
        metrics = self._metrics
        now = time.perf_counter()
        for item in verdict.items:
            metrics.bytes_out += len(item.frame)
            metrics.delivered += 1
            if item.received:
                metrics.route_latency.observe(now - item.received)
            origin = item.acknowledged_to
            if origin is not None:
                self.replies.acknowledge(origin[0], origin[1], "delivered")
                self.backend.handed_on(origin[0], origin[1])
        held = verdict.held
        if held and session.did is not None:
            self.lanes.settle(session.did, held)

    def slow(self, session: Session) -> None:
        """``session`` did not acknowledge in time: close it as a slow consumer (1013)."""
        self.evict(session, CloseCode.TRY_AGAIN_LATER, "slow consumer")

    # closing ----------------------------------------------------------------------------------
    def evict(self, session: Session, code: CloseCode, reason: str, *, close: bool = True) -> None:
        """Close ``session`` (code, reason); its unwritten agent frames go back to the store.

        With ``close=False`` the caller requests the close itself later.
        """
        if session.closed:
            return
        unsent = session.terminate(reason)
        if code == CloseCode.TRY_AGAIN_LATER:
            self._metrics.slow_consumers += 1
        if session.did is not None:
            self._forget(session)
            self._restore(session, unsent)
        if close:
            session.request_close(code, reason)  # its connection logs the "disconnected" line

    def _restore(self, session: Session, unsent: list[Outgoing]) -> None:
        did = session.did
        assert did is not None
        for item in unsent:
            if item.agent and item.held is None:  # held frames are still in the store
                self.store(did, item)
        if session.leftover is not None:  # a batch still flushing, and what waits behind it
            self.lanes.store_later(did, session.leftover)

    def _forget(self, session: Session) -> None:
        self._by_id.pop(session.session_id, None)
        did = session.did
        if did is None:
            return
        if self._sessions.get(did) is session:
            del self._sessions[did]
        self.spawn(self._release(did, session.session_id))

    async def _release(self, did: str, session_id: str) -> None:
        try:
            await self.backend.release(did, session_id)
        except BackendUnavailableError as exc:
            logger.warning("could not release %s: %s", did, exc)
        self.directory.changed()

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        """Run ``coroutine`` in the background, keeping a reference until it ends."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
