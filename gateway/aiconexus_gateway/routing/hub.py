"""The hub: this node's live sessions and every path a frame can take between them.

Routing decisions are synchronous (a local session takes the frame, or it goes to the
recipient's store lane), so a sender is never blocked by a recipient. A recipient whose
bounded send queue is full is closed as a slow consumer and its unsent frames go back to
the store, in order. Every accepted frame is acknowledged once (ACKs of one loop iteration
are coalesced per sender and status) or answered by one ERROR. For a recipient with
recipient acknowledgements, ``delivered`` waits for its ACK (:meth:`Hub.received`, the window
itself is :mod:`.inflight`); shutdown drains first (:mod:`.drain`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

from aiconexus.protocol import (
    CloseCode,
    ErrorCode,
    Identity,
    IoapError,
    close_reason,
    error_from_code,
    format_timestamp,
)
from aiconexus_gateway.backend.base import AgentRecord, Backend, BackendUnavailableError
from aiconexus_gateway.guards.iplimits import IpLimits
from aiconexus_gateway.guards.ratelimit import RateLimits
from aiconexus_gateway.guards.refusals import RefusalPolicy
from aiconexus_gateway.guards.signatures import CryptoPool, default_threads
from aiconexus_gateway.observation.directory_events import DirectoryChanges
from aiconexus_gateway.observation.metrics import Metrics
from aiconexus_gateway.observation.refusal_log import RefusalLog
from aiconexus_gateway.settings import Settings
from aiconexus_gateway.tasks import stop_task

from .budget import ByteBudget
from .drain import DrainReport, held_frames, wait_drained
from .frames import GatewayFrames
from .inflight import InFlight
from .lanes import StoreLanes
from .session import Outgoing, Session, SessionState
from .uncertain import UncertainFrames

__all__ = [
    "CLOSE_GOING_AWAY",
    "CLOSE_POLICY",
    "CLOSE_REPLACED",
    "CLOSE_SLOW_CONSUMER",
    "Hub",
    "format_timestamp_from",
]

logger = logging.getLogger("aiconexus.gateway")

CLOSE_REPLACED = CloseCode.REPLACED
CLOSE_POLICY = CloseCode.POLICY_VIOLATION
CLOSE_SLOW_CONSUMER = CloseCode.TRY_AGAIN_LATER
CLOSE_GOING_AWAY = CloseCode.GOING_AWAY
"""The close codes of the hub under their older names (the protocol core's CloseCode)."""
MAX_ACK_IDS = 256
"""Most ids one coalesced ACK lists (keeps it far below any frame size limit)."""
DRAIN_RETRY_MAX_S = 5.0
"""Longest pause between two drains of a session while the backend is unreachable."""


class Hub:
    """Live sessions of this node, routing between them, and the backend hooks."""

    def __init__(
        self,
        settings: Settings,
        identity: Identity,
        backend: Backend,
        *,
        crypto_threads: int | None = None,
    ) -> None:
        self.settings = settings
        self.frames = GatewayFrames(identity)
        if crypto_threads is None:
            crypto_threads = settings.gateway_crypto_threads
        threads = default_threads() if crypto_threads is None else crypto_threads
        self.crypto = CryptoPool(threads, identity.sign)
        self.did = identity.did
        self.backend = backend
        self.metrics = Metrics()
        self.refusal_log = RefusalLog(logger)
        self.rate_limits = RateLimits.from_settings(settings)
        self.address_rate_limits = RateLimits.per_address(settings)
        self.ip_limits = IpLimits.from_settings(settings)
        self.refusals = RefusalPolicy.from_settings(settings)
        self.sessions: dict[str, Session] = {}
        self.budget = ByteBudget(settings.send_bytes_total)
        """Bytes of agent frames queued or in flight in every session (SEND_BYTES_TOTAL)."""
        self.connections = 0
        self.started_at = time.time()
        self.lanes = StoreLanes(
            backend, self._store_outcome, observe_store=self.metrics.store_time.observe
        )
        self.uncertain = UncertainFrames(backend)
        """Frames answered INTERNAL_ERROR whose ids are still to be freed."""
        self._by_id: dict[str, Session] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._cleanup: asyncio.Task[None] | None = None
        self._stopping = False
        self._acks: dict[tuple[str, str], list[str]] = {}
        self._ack_flush_scheduled = False
        self.directory = DirectoryChanges()
        """Word of this node's directory changes (``GET /agents/events``)."""

    @property
    def stopping(self) -> bool:
        """True once shutdown began: new connections are refused."""
        return self._stopping

    # NodeHooks --------------------------------------------------------------------------------
    @property
    def node_id(self) -> str:
        """The id of this node."""
        return self.settings.node_id

    def deliver_local(self, recipient: str, frame: str) -> bool:
        """Queue a frame from another node for a local session; False if there is none.

        Also False while draining (the backend then stores it for the agent's next node).
        """
        if self._stopping:
            return False
        return self.deliver(recipient, Outgoing(frame, agent=True))

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
        if self._stopping:
            return
        session = self.sessions.get(did)
        if session is not None and session.state is SessionState.REGISTERED and session.writing:
            self._drain(session, None)

    # lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the backend and the periodic cleanup."""
        await self.crypto.start()
        await self.backend.start(self)
        self._cleanup = asyncio.get_running_loop().create_task(self._cleanup_loop())

    async def close_sessions(self, drain_timeout: float = 0.0) -> DrainReport:
        """Drain (see :mod:`.drain`), then close every session with 1001 (going away).

        Used when the process stops; what sessions still hold goes to the store.
        """
        self._stopping = True
        self.directory.close()
        sessions = list(self._by_id.values())
        delivered = self.metrics.delivered
        waited = await wait_drained(sessions, drain_timeout) if drain_timeout > 0 else 0.0
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
        return DrainReport(len(sessions), self.metrics.delivered - delivered, left, waited)

    async def stop(self) -> None:
        """Close sessions, let store lanes finish briefly, stop the backend."""
        await self.close_sessions()
        await stop_task(self._cleanup)
        await self.uncertain.stop()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                await self.lanes.idle()
        await self.backend.close()
        self.crypto.stop()

    async def _cleanup_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.cleanup_interval)
            try:
                await self.backend.refresh(self.records())
            except Exception as exc:
                logger.warning("presence refresh failed: %r", exc)

    def records(self) -> list[AgentRecord]:
        """Presence records of this node's registered sessions, ``last_seen`` = now."""
        now = format_timestamp()
        return [
            self.record(session, last_seen=now)
            for session in self.sessions.values()
            if session.state is SessionState.REGISTERED
        ]

    def record(self, session: Session, *, last_seen: str | None = None) -> AgentRecord:
        """The presence record of a registered ``session``."""
        assert session.did is not None
        connected = format_timestamp_from(session.connected_at)
        return AgentRecord(
            did=session.did,
            capabilities=session.capabilities,
            metadata=session.metadata,
            capability_info=session.capability_info,
            connected_at=connected,
            last_seen=last_seen or connected,
            node_id=self.node_id,
            session_id=session.session_id,
            extra={"recipient_acks": True} if session.recipient_acks else {},
        )

    # registration -----------------------------------------------------------------------------
    async def register(self, session: Session, register_id: str) -> None:
        """Make ``session`` the live session of its DID; REGISTERED + stored frames follow.

        Raises BackendUnavailableError (the caller answers ERROR and closes).
        """
        did = session.did
        assert did is not None
        previous = self.sessions.get(did)
        if previous is not None and previous is not session:
            self.evict(previous, CloseCode.REPLACED, "replaced")
        self._by_id[session.session_id] = session
        self.sessions[did] = session
        session.advance(SessionState.REGISTERED)
        if session.recipient_acks:
            session.inflight = InFlight(
                self.settings.inflight_window,
                self.settings.ack_timeout,
                lambda: self.evict(session, CloseCode.TRY_AGAIN_LATER, "slow consumer"),
                window_bytes=self.settings.inflight_window_bytes,
                budget=self.budget,
                on_room=session.wake,
            )
        try:
            await self.backend.claim(self.record(session))
        except BackendUnavailableError:
            unsent = session.terminate("backend unavailable")
            self._forget(session)
            self._restore(session, unsent)
            raise
        self.directory.changed()
        self._drain(session, register_id)

    def _drain(self, session: Session, register_id: str | None) -> None:
        """Hand ``session`` its stored frames (REGISTERED first when ``register_id`` is set).

        Held frames of earlier sessions come first on the session's first drain, and on
        every drain after one that found the backend unreachable (a later drain is tried
        then, see :meth:`_drain_later`), so an outage strands none of them.
        """
        did = session.did
        assert did is not None
        include_held = register_id is not None or session.held_pending
        if include_held:
            session.held_pending = False
        self.lanes.drain(
            did,
            lambda frames: self._deliver_stored(session, frames, register_id),
            hold=session.recipient_acks,
            include_held=include_held,
            on_unavailable=lambda: self._drain_later(session, include_held),
        )

    def _drain_later(self, session: Session, include_held: bool) -> None:
        """A drain of ``session`` found the backend unreachable: try again in a while."""
        if include_held:
            session.held_pending = True
        if session.drain_retry is not None or session.closed:
            return
        pause = session.drain_pause = min(DRAIN_RETRY_MAX_S, 2 * session.drain_pause or 0.25)

        def again() -> None:
            session.drain_retry = None
            if session.state is SessionState.REGISTERED:
                self._drain(session, None)

        session.drain_retry = asyncio.get_running_loop().call_later(pause, again)

    def _deliver_stored(
        self, session: Session, frames: list[tuple[str, str]], register_id: str | None
    ) -> bool:
        if session.closed:
            return False
        assert session.did is not None
        if frames and register_id is None:
            frames = session.not_held_yet(frames)
        first = None
        if register_id is not None:
            first = self.frames.registered(
                session.did,
                register_id,
                session.session_id,
                self.settings.heartbeat_interval,
                len(frames),
                recipient_acks=session.recipient_acks,
            )
            logger.info(
                "registered",
                extra={
                    "did": session.did,
                    "session": session.session_id,
                    "peer": session.peer,
                    "queued": len(frames),
                },
            )
        if frames or first is not None:
            session.enqueue_exempt(frames, first)
        session.start_writer()
        return True

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
        session = self.sessions.get(recipient)
        if session is None:
            return False
        if self.lanes.busy(recipient):
            self.lanes.then(recipient, lambda: self._hand_over(recipient, item))
        else:
            self._hand_over(recipient, item)
        return True

    def _hand_over(self, recipient: str, item: Outgoing) -> None:
        session = self.sessions.get(recipient)
        if session is not None and session.enqueue(item):
            return
        if session is not None:
            self.evict(session, CloseCode.TRY_AGAIN_LATER, "slow consumer")
        self.store(recipient, item)

    def store(self, recipient: str, item: Outgoing) -> None:
        """Put ``item`` into the offline store of ``recipient`` (refused when storing is off)."""
        if not self.settings.storing_enabled:
            self._store_outcome(item, ErrorCode.UNKNOWN_AGENT, "recipient is not connected")
            return
        self.lanes.store(recipient, item)

    def on_written(self, item: Outgoing) -> None:
        """``item`` reached its recipient: count it and ACK ``delivered``.

        That is when the writer wrote it, or, for a session with recipient acknowledgements,
        when the recipient acknowledged it (:meth:`received`).
        """
        metrics = self.metrics
        metrics.bytes_out += len(item.frame)
        if item.agent:
            metrics.delivered += 1
            if item.received:
                metrics.route_latency.observe(time.perf_counter() - item.received)
        if item.ack_id is not None and item.ack_to is not None:
            self.acknowledge(item.ack_to, item.ack_id, "delivered")
            self.backend.handed_on(item.ack_to, item.ack_id)

    def received(self, session: Session, ids: list[str]) -> None:
        """The recipient ``session`` acknowledged the frames ``ids``: they are delivered."""
        inflight = session.inflight
        if inflight is None or session.closed:
            return
        held: list[str] = []
        for item in inflight.acknowledge(ids):
            self.on_written(item)
            if item.held is not None:
                held.append(item.held)
        if held and session.did is not None:
            self.lanes.settle(session.did, held)

    def acknowledge(self, did: str, message_id: str, status: str) -> None:
        """ACK ``message_id`` to the current session of ``did``, if any.

        ACKs are coalesced: the ids acknowledged during one loop iteration go out as one
        signed ACK per (sender, status), flushed right after (``loop.call_soon``).
        """
        if did not in self.sessions:
            return
        key = (did, status)
        ids = self._acks.get(key)
        if ids is not None and len(ids) < MAX_ACK_IDS:
            ids.append(message_id)
            return
        if ids is not None:
            self._send_ack(did, ids, status)
        self._acks[key] = [message_id]
        if not self._ack_flush_scheduled:
            self._ack_flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_acks)

    def _flush_acks(self) -> None:
        self._ack_flush_scheduled = False
        pending, self._acks = self._acks, {}
        for (did, status), ids in pending.items():
            self._send_ack(did, ids, status)

    def _send_ack(self, did: str, ids: list[str], status: str) -> None:
        """Sign (off the loop when threads are configured) and send one ACK of ``ids``."""
        if did not in self.sessions:
            return
        envelope = self.frames.unsigned_ack(did, ids, status)

        def signed(signature: Any, error: BaseException | None) -> None:
            session = self.sessions.get(did)
            if error is not None:
                logger.error("signing an ACK failed: %r", error)
            elif session is not None:
                self.send_control(session, GatewayFrames.signed(envelope, signature))

        self.crypto.sign(GatewayFrames.ack_signing_bytes(envelope), signed)

    def reject(
        self,
        session: Session,
        error: IoapError,
        correlation_id: str | None,
        *,
        verified: bool = True,
    ) -> None:
        """Answer a refused frame with the ERROR of ``error`` (within the ERROR budget).

        The session keeps going, unless its frames keep failing parsing or verification
        (:mod:`.refusals`): then it is closed 1008 with the code as the reason.
        ``verified=False``: the frame was refused before its signature was verified.
        """
        code = str(error.code)
        self.metrics.rejected[code] += 1
        self.refusal_log.note(code, error.message, session=session.session_id, did=session.did)
        verdict = self.refusals.refused(session.refusals, code, verified=verified)
        if verdict.answer:
            self.send_control(session, self.frames.error_frame(session.did, error, correlation_id))
        else:
            self.metrics.errors_suppressed += 1
        if verdict.close:
            why = close_reason(code, "too many refused frames in a row")
            self.evict(session, CloseCode.POLICY_VIOLATION, why)

    def send_control(self, session: Session, frame: str) -> None:
        """Queue a gateway frame (ACK, ERROR, PONG); a full queue closes the session."""
        if not session.enqueue(Outgoing(frame, agent=False)) and not session.closed:
            self.evict(session, CloseCode.TRY_AGAIN_LATER, "slow consumer")

    def _store_outcome(self, item: Outgoing, code: ErrorCode | None, message: str) -> None:
        if code is None:
            self.metrics.queued += 1
            if item.ack_id is not None and item.ack_to is not None:
                self.acknowledge(item.ack_to, item.ack_id, "queued")
            return
        self.metrics.rejected[code.value] += 1
        self.refusal_log.note(code, message, did=item.ack_to, correlation_id=item.ack_id)
        if item.ack_id is None or item.ack_to is None:
            logger.warning("dropped a frame that could not be stored again: %s", message)
            return
        if code is ErrorCode.INTERNAL_ERROR:
            self.outcome_unknown(item.ack_to, item.ack_id, error_from_code(code, message))
            return
        self.spawn(self._refused(item.ack_to, item.ack_id, code, message))

    def outcome_unknown(self, sender: str, message_id: str, error: IoapError) -> None:
        """Answer INTERNAL_ERROR (outcome unknown): the id is freed unless the frame was taken.

        See :mod:`.uncertain`; the sender sends the same frame again.
        """
        self.uncertain.add(sender, message_id)
        session = self.sessions.get(sender)
        if session is not None:
            self.send_control(session, self.frames.error_frame(sender, error, message_id))

    async def _refused(self, sender: str, message_id: str, code: ErrorCode, message: str) -> None:
        """A frame was not taken: free its id for a re-send, then answer ERROR ``code``."""
        try:
            await self.backend.forget(sender, message_id)
        except BackendUnavailableError as exc:
            logger.warning("could not free the id of a refused frame: %s", exc)
        session = self.sessions.get(sender)
        if session is not None:
            error = error_from_code(code, message)
            self.send_control(session, self.frames.error_frame(sender, error, message_id))

    # closing ----------------------------------------------------------------------------------
    def evict(self, session: Session, code: CloseCode, reason: str, *, close: bool = True) -> None:
        """Close ``session`` (code, reason); its unwritten agent frames go back to the store.

        With ``close=False`` the caller requests the close itself later.
        """
        if session.closed:
            return
        unsent = session.terminate(reason)
        if code == CloseCode.TRY_AGAIN_LATER:
            self.metrics.slow_consumers += 1
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
        if self.sessions.get(did) is session:
            del self.sessions[did]
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


def format_timestamp_from(epoch: float) -> str:
    """An envelope-style timestamp of a ``time.time()`` value."""
    return format_timestamp(datetime.fromtimestamp(epoch, UTC))
