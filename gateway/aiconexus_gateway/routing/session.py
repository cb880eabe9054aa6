"""One agent connection's outgoing side: a send queue drained by a writer task.

Nothing here blocks the caller: :meth:`Session.enqueue` either accepts a frame at once or
says the queue is full (:mod:`.send_queue` holds the queue and its bounds), and the hub then
applies the slow-consumer policy. The writer reports what it has written to the session's
:class:`~.delivery.Delivery`, which decides what is delivered (:mod:`.delivery`); the verdict
goes to the session's owner (the hub). A send returns once the frame's bytes are in the
kernel (see ``ws_protocol``). Frames handed to the socket but not yet flushed when the
session is closed stay with the writer, with the frames queued behind them; the writer
reports them written once flushed, or unwritten (back to the store) if the connection is
lost first (at the latest after CLOSE_TIMEOUT), and then hands back the frames behind them,
so that the store gets them in order.

The connection's reader pauses while ``limit`` gateway frames or more are queued, so a peer
that sends without reading its ACKs is slowed down rather than dropped (frames from other
agents never pause it: they do not depend on what it sends).

The writer task runs only while there is something to write: it ends once the queue is empty
(or the in-flight window full) and the next frame queued (or room freed) starts another, so
an idle session holds no task, no coroutine frame and (see :mod:`.send_queue`) no deque.

A session with recipient acknowledgements writes no more agent frames than its in-flight
window has room for, and on :meth:`Session.terminate` returns the frames in flight ahead of
the unsent ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from functools import partial
from typing import Any, Protocol

from aiconexus.protocol import CloseCode, Registration
from aiconexus_gateway.guards.refusals import RefusalState
from aiconexus_gateway.lean import LeanEvent
from aiconexus_gateway.observation.metrics import Metrics
from aiconexus_gateway.transport.asgi import ASGISend
from aiconexus_gateway.transport.ws_protocol import SEND_BATCH

from .budget import ByteBudget
from .delivery import WITHOUT_ACKS, Delivered, Delivery, InFlight
from .outgoing import Kind, Outgoing
from .parts import SessionLimits
from .send_queue import SendQueue
from .session_state import NEXT_STATES, SessionState

__all__ = ["Session", "SessionLimits", "SessionOwner", "SessionState"]

logger = logging.getLogger("aiconexus.gateway")

CLOSE_REQUEST_WAIT = 10.0
"""Longest a terminated session waits for the hub to request its close."""


class SessionOwner(Protocol):
    """Who acts on what a session reports (the hub)."""

    def delivered(self, session: Session, verdict: Delivered) -> None:
        """Frames of ``session`` reached their recipient: count them and tell their senders."""

    def slow(self, session: Session) -> None:
        """``session`` does not acknowledge in time: close it as a slow consumer."""


class Session:
    """The state of one WebSocket connection as the hub sees it."""

    __slots__ = (
        "__weakref__",
        "_batched",
        "_close_requested",
        "_closer",
        "_drained",
        "_flushing",
        "_limits",
        "_metrics",
        "_owner",
        "_reader",
        "_send",
        "_started",
        "_writer",
        "address",
        "budget",
        "capabilities",
        "capability_info",
        "close_code",
        "close_reason",
        "connected_at",
        "delivery",
        "did",
        "drain_pauses",
        "drain_retry",
        "held_pending",
        "leftover",
        "metadata",
        "peer",
        "public_key",
        "queue",
        "receiving",
        "recipient_acks",
        "refusals",
        "session_id",
        "state",
    )

    def __init__(
        self,
        send: ASGISend,
        *,
        session_id: str,
        peer: str,
        limits: SessionLimits,
        owner: SessionOwner,
        metrics: Metrics,
        address: str = "unknown",
        batched: bool = False,
        budget: ByteBudget | None = None,
    ) -> None:
        self.session_id = session_id
        self.peer = peer
        self.address = address
        """The client's address (per-address limits; behind a trusted proxy, the forwarded one)."""
        self.did: str | None = None
        self.capabilities: tuple[str, ...] = ()
        self.capability_info: dict[str, Any] = {}
        """REGISTER's ``capability_info``: per-capability declarations, listed by GET /agents."""
        self.metadata: dict[str, Any] = {}
        self.connected_at = time.time()
        self.state = SessionState.CONNECTED
        self.close_reason: str = "disconnected"
        self.close_code: int | None = None
        self.public_key = b""
        self._send = send
        self._limits = limits
        self._owner = owner
        self._metrics = metrics
        self.budget = budget if budget is not None else ByteBudget(0)
        """The node's budget of queued and in-flight agent bytes (SEND_BYTES_TOTAL)."""
        self.queue = SendQueue(limits.queue, limits.queue_bytes, self.budget)
        self.delivery = WITHOUT_ACKS
        """Decides when a written frame is delivered (:mod:`.delivery`)."""
        self.leftover: asyncio.Future[list[Outgoing]] | None = None
        """After :meth:`terminate` with a batch still flushing: the frames it hands back."""
        self._flushing = 0
        """Frames of the batch being written (without recipient acknowledgements)."""
        self._batched = batched
        self._drained = LeanEvent()
        self._started = False
        self._writer: asyncio.Task[None] | None = None
        """The running writer (None while idle; a finished one stays after a failed write)."""
        self._reader: asyncio.Task[Any] | None = asyncio.current_task()
        self._closer: asyncio.Task[None] | None = None
        self._close_requested = LeanEvent()
        self.receiving = False
        self.refusals = RefusalState()
        self.recipient_acks = False
        """True when the REGISTER asked for recipient acknowledgements."""
        self.held_pending = False
        """True when held frames of earlier sessions are still to be taken (the backend was
        unreachable when the session tried)."""
        self.drain_retry: asyncio.TimerHandle | None = None
        """The next drain, scheduled while the backend is unreachable."""
        self.drain_pauses: Iterator[float] | None = None
        """The pauses before :attr:`drain_retry` (they grow while the backend stays away)."""

    def advance(self, state: SessionState) -> None:
        """Move to ``state``; RuntimeError for a move the life cycle does not have (a bug)."""
        if state not in NEXT_STATES[self.state]:
            raise RuntimeError(f"session {self.session_id}: {self.state.value} -> {state.value}")
        self.state = state

    def adopt(self, registration: Registration) -> None:
        """Take the identity and announcements of an accepted REGISTER (before REGISTERED).

        A REGISTER asking for recipient acknowledgements gives the session its in-flight
        window (:mod:`.delivery`).
        """
        self.did = registration.did
        self.capabilities = registration.capabilities
        self.capability_info = registration.capability_info
        self.metadata = registration.metadata
        self.recipient_acks = registration.recipient_acks
        self.public_key = registration.public_key
        if self.recipient_acks:
            limits = self._limits
            window = InFlight(
                limits.window,
                limits.ack_timeout,
                partial(self._owner.slow, self),
                window_bytes=limits.window_bytes,
                budget=self.budget,
                on_room=self.wake,
            )
            self.delivery = Delivery(window)

    @property
    def closed(self) -> bool:
        """True once the hub has let go of this session."""
        return self.state is SessionState.CLOSED

    @property
    def writing(self) -> bool:
        """True once writing began (REGISTERED and the stored frames are queued)."""
        return self._started

    @property
    def held_frames(self) -> int:
        """Agent frames this session holds: queued, or written and not yet acknowledged."""
        return self.queue.agent_frames + self.delivery.in_flight

    async def send_now(self, frame: str) -> None:
        """Write ``frame`` directly (only before the writer starts: handshake frames)."""
        await self._send({"type": "websocket.send", "text": frame})

    def enqueue(self, item: Outgoing) -> bool:
        """Queue ``item``; False when closed or at a bound (the peer reads too slowly)."""
        if self.state is SessionState.CLOSED or not self.queue.put(item):
            return False
        if self._writer is None:
            self.wake()
        return True

    def wake(self) -> None:
        """Let the writer look again (a frame was queued, or window room was freed).

        A running writer looks again by itself before it ends; an idle session gets a new one.
        """
        if self._writer is None and self._started and self.state is not SessionState.CLOSED:
            self._writer = asyncio.get_running_loop().create_task(self._write_loop())

    async def drained(self) -> None:
        """Wait while ``limit`` gateway frames or more are queued (the reader's back-pressure).

        Only the gateway's own frames count: they answer what this connection sends. Frames
        from other agents do not (a recipient draining a backlog must go on reading, its
        recipient ACKs among others).
        """
        while self.queue.answers >= self.queue.limit and self.state is not SessionState.CLOSED:
            self._drained.clear()
            await self._drained.wait()

    def enqueue_exempt(self, frames: list[tuple[str, str]], first: str | None = None) -> None:
        """Queue stored frames (and ``first``, e.g. REGISTERED, ahead of them) past the bound.

        ``frames`` are (store token, frame) pairs (token "" when the store let go of it).
        They jump ahead of live frames queued while the session was being set up only when
        the writer has not started yet; otherwise they are appended.
        """
        items = [Outgoing(frame, Kind.STORED, held=token or None) for token, frame in frames]
        head = None if first is None else Outgoing(first, Kind.CONTROL)
        self.queue.put_stored(items, head, ahead=not self._started)
        self.wake()

    def not_held_yet(self, frames: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """``frames`` (token, frame) but those this session holds already (queued or in flight)."""
        held = self.queue.held_tokens() | self.delivery.held_tokens()
        return [(token, frame) for token, frame in frames if not token or token not in held]

    def start_writer(self) -> None:
        """Begin writing queued frames (after REGISTERED and stored frames are in front)."""
        if not self._started:
            self._started = True
            self.wake()

    async def _write_loop(self) -> None:
        queue = self.queue
        drained = self._drained
        metrics = self._metrics
        try:
            while True:
                delivery = self.delivery
                answers, agents = queue.next_batch(delivery.fitting, batched=self._batched)
                if not answers and not agents:
                    self._writer = None  # idle: the next frame queued starts another writer
                    return
                items = answers + agents
                if delivery.acknowledging:
                    # In flight before the write: whatever happens to the write, they stay
                    # there until acknowledged or handed back (terminate).
                    queue.pop(len(answers), len(agents), closed=self.closed)
                    delivery.sending(agents)
                    await self._write(items)
                else:
                    self._flushing = len(items)
                    await self._write(items)
                    self._flushing = 0
                    queue.pop(len(answers), len(agents), closed=self.closed)
                metrics.bytes_out += sum(len(item.frame) for item in answers)
                verdict = delivery.written(agents)
                if verdict.items:
                    self._owner.delivered(self, verdict)
                if self.state is SessionState.CLOSED:
                    if not delivery.acknowledging:
                        self._hand_back()  # closed while the last batch was being flushed
                    return
                if queue.answers < queue.limit:
                    drained.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the peer went away; the reader will see the disconnect
            logger.debug("writer of %s stopped: %r", self.session_id, exc)
            self._give_back_flushing()

    async def _write(self, items: list[Outgoing]) -> None:
        if self._batched and len(items) > 1:
            await self._send({"type": SEND_BATCH, "texts": [i.frame for i in items]})
        else:
            await self._send({"type": "websocket.send", "text": items[0].frame})

    def _give_back_flushing(self) -> None:
        """The batch being flushed was lost with the connection: report it unwritten.

        While the session is open its frames simply stay queued (and :meth:`terminate`
        returns them, in order); once closed they resolve :attr:`leftover`.
        """
        count, self._flushing = self._flushing, 0
        if count and self.state is SessionState.CLOSED:
            self._hand_back()

    def _hand_back(self) -> None:
        """Closed: report what is still queued (the lost batch first) unwritten, in order."""
        items = self.queue.take_all()
        if self.leftover is not None and not self.leftover.done():
            self.leftover.set_result(items)

    def terminate(self, reason: str) -> list[Outgoing]:
        """Mark closed, stop the writer and return every frame not delivered yet, in order."""
        if self.state is SessionState.CLOSED:
            return []
        self.advance(SessionState.CLOSED)
        self.close_reason = reason
        if self.drain_retry is not None:
            self.drain_retry.cancel()
            self.drain_retry = None
        if self.delivery.acknowledging:
            # Nothing written counts until acknowledged: all of it goes back, in order.
            if self._writer is not None:
                self._writer.cancel()
            unacked = self.delivery.take_all() + self.queue.take_all()
            self.queue.release()
            self._flushing = 0
            self._drained.set()
            return unacked
        flying = self._flushing
        if self._writer is not None and not flying:
            self._writer.cancel()
        self.queue.release()
        self._drained.set()
        if flying:
            # A batch already handed to the socket stays with the writer (see the module),
            # and so does everything behind it, to be handed back in order.
            self.leftover = asyncio.get_running_loop().create_future()
            if self._writer is not None:
                self._writer.add_done_callback(lambda _: self._hand_back())
            return []
        return self.queue.take_all()

    def request_close(self, code: CloseCode, reason: str) -> None:
        """Send a close frame in the background (after :meth:`terminate`)."""
        self.close_code = int(code)
        if self._closer is None:
            self._closer = asyncio.get_running_loop().create_task(self._close(code, reason))
            self._close_requested.set()

    async def _close(self, code: int, reason: str) -> None:
        timeout = self._limits.close_timeout
        try:
            async with asyncio.timeout(timeout):
                # "timeout": how long the server lets the closing handshake take (ws_protocol)
                close = {"type": "websocket.close", "code": int(code), "reason": reason}
                await self._send({**close, "timeout": timeout})
            return
        except TimeoutError:
            logger.debug("close frame to %s did not fit in time", self.session_id)
        except Exception as exc:
            logger.debug("close of %s: %r", self.session_id, exc)
            return
        # The peer reads nothing: stop waiting for its frames so the connection can end.
        reader = self._reader
        if self.receiving and reader is not None and not reader.done():
            reader.cancel()

    async def closed_sent(self) -> None:
        """Wait (bounded) until a requested close frame went out or was given up.

        A session terminated without a close yet (the hub stores what it held first, see
        ``Hub.close_sessions``) waits for the request, so its connection stays open meanwhile.
        """
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_REQUEST_WAIT):
                await self._close_requested.wait()
        if self._closer is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._closer)
