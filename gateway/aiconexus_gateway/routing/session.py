"""One agent connection's outgoing side: a bounded send queue drained by a writer task.

Nothing here blocks the caller: :meth:`Session.enqueue` either accepts a frame at once or
says the queue is full, and the hub then applies the slow-consumer policy. The writer
reports every frame it has written to the WebSocket (that moment triggers ACK delivered):
a send returns once the frame's bytes are in the kernel (see ``ws_protocol``). Frames handed
to the socket but not yet flushed when the session is closed stay with the writer, with the
frames queued behind them; the writer reports them written once flushed, or unwritten (back
to the store) if the connection is lost first (at the latest after CLOSE_TIMEOUT), and then
hands back the frames behind them, so that the store gets them in order.

Two queues: the gateway's own frames (REGISTERED, ACK, ERROR, PONG) are written ahead of the
frames from other agents, so that a recipient draining a backlog, or waiting for room in its
in-flight window, still gets its PONGs and the ACKs of what it sends.

Bounds: at most ``limit`` (SEND_QUEUE_SIZE) frames, and ``limit_bytes`` (SEND_QUEUE_BYTES)
bytes, from other agents wait for a connection (the stored frames delivered after REGISTERED
are not counted: the store's own bounds hold them); every session's queued and in-flight
agent bytes also count against one :class:`~.budget.ByteBudget` of the node. The gateway's
own frames have a larger allowance of their own, and the connection's reader pauses while
``limit`` of them or more are queued, so a peer that sends without reading its ACKs is
slowed down rather than dropped (frames from other agents never pause it: they do not
depend on what it sends).

A session with recipient acknowledgements (``inflight`` set, see :mod:`.inflight`) hands
every agent frame it writes to its :class:`~.inflight.InFlight` instead of reporting it
written, writes no more agent frames than the in-flight window has room for, and on
:meth:`Session.terminate` returns the frames in flight ahead of the unsent ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, Any

from aiconexus.protocol import CloseCode, Registration
from aiconexus_gateway.guards.refusals import RefusalState
from aiconexus_gateway.lean import LeanEvent
from aiconexus_gateway.transport.asgi import ASGISend

from .budget import ByteBudget

if TYPE_CHECKING:
    from .inflight import InFlight

__all__ = ["Outgoing", "Session", "SessionState"]

logger = logging.getLogger("aiconexus.gateway")

CONTROL_ALLOWANCE_FACTOR = 4
"""Gateway frames may queue up to this many times ``limit`` (plus the agent frames)."""

MAX_BATCH = 256
"""Most frames written with one socket write."""

CLOSE_SEND_TIMEOUT = 5.0
"""How long a close frame may wait behind a full socket buffer before we give up on it."""

CLOSE_REQUEST_WAIT = 10.0
"""Longest a terminated session waits for the hub to request its close."""


class SessionState(Enum):
    """Where a connection is in its life; only :meth:`Session.advance` moves it.

    CONNECTED -> CHALLENGE_SENT -> REGISTERED -> CLOSED, and from any state to CLOSED.
    """

    CONNECTED = "connected"
    """The WebSocket is accepted; nothing sent yet."""
    CHALLENGE_SENT = "challenge sent"
    """CHALLENGE is out; the REGISTER answering it is awaited and checked."""
    REGISTERED = "registered"
    """The live session of its DID: frames are routed to and from it."""
    CLOSED = "closed"
    """The hub let go of it (the connection may still be closing)."""


_NEXT_STATES: dict[SessionState, frozenset[SessionState]] = {
    SessionState.CONNECTED: frozenset({SessionState.CHALLENGE_SENT, SessionState.CLOSED}),
    SessionState.CHALLENGE_SENT: frozenset({SessionState.REGISTERED, SessionState.CLOSED}),
    SessionState.REGISTERED: frozenset({SessionState.CLOSED}),
    SessionState.CLOSED: frozenset(),
}
"""The moves :meth:`Session.advance` allows."""


class Outgoing:
    """A frame waiting to be written; agent frames go back to the store if never written."""

    __slots__ = ("ack_id", "ack_to", "agent", "exempt", "frame", "held", "received")

    def __init__(
        self,
        frame: str,
        *,
        agent: bool,
        ack_to: str | None = None,
        ack_id: str | None = None,
        exempt: bool = False,
        received: float = 0.0,
        held: str | None = None,
    ) -> None:
        self.frame = frame
        self.agent = agent
        self.ack_to = ack_to
        self.ack_id = ack_id
        self.exempt = exempt
        self.received = received  # time.perf_counter() when read, for the route latency
        self.held = held
        """The store's token while the backend keeps this frame until it is acknowledged."""


class Session:
    """The state of one WebSocket connection as the hub sees it."""

    __slots__ = (
        "__weakref__",
        "_batch_type",
        "_budget",
        "_close_requested",
        "_close_timeout",
        "_closer",
        "_control",
        "_control_limit",
        "_drained",
        "_in_flight",
        "_limit",
        "_limit_bytes",
        "_live",
        "_live_bytes",
        "_on_written",
        "_queue",
        "_reader",
        "_send",
        "_wakeup",
        "_writer",
        "address",
        "capabilities",
        "capability_info",
        "close_code",
        "close_reason",
        "connected_at",
        "did",
        "drain_pause",
        "drain_retry",
        "held_pending",
        "inflight",
        "leftover",
        "metadata",
        "peer",
        "public_key",
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
        limit: int,
        peer: str,
        address: str = "unknown",
        on_written: Callable[[Outgoing], None],
        batch_type: str | None = None,
        close_timeout: float = CLOSE_SEND_TIMEOUT,
        limit_bytes: int = 0,
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
        self._limit = limit
        self._on_written = on_written
        self.leftover: asyncio.Future[list[Outgoing]] | None = None
        """After :meth:`terminate` with a batch still flushing: the frames it hands back."""
        self._in_flight = 0
        self._batch_type = batch_type
        self._close_timeout = close_timeout
        self._queue: deque[Outgoing] = deque()
        """Frames from other agents, in the order they are to be written."""
        self._control: deque[Outgoing] = deque()
        """The gateway's own frames, written ahead of ``_queue``."""
        self._live = 0
        self._live_bytes = 0
        self._limit_bytes = limit_bytes
        self._budget = budget if budget is not None else ByteBudget(0)
        self._control_limit = CONTROL_ALLOWANCE_FACTOR * limit + limit
        self._drained = LeanEvent()
        self._wakeup = LeanEvent()
        self._writer: asyncio.Task[None] | None = None
        self._reader: asyncio.Task[Any] | None = asyncio.current_task()
        self._closer: asyncio.Task[None] | None = None
        self._close_requested = asyncio.Event()
        self.receiving = False
        self.refusals = RefusalState()
        self.recipient_acks = False
        """True when the REGISTER asked for recipient acknowledgements."""
        self.inflight: InFlight | None = None
        self.held_pending = False
        """True when held frames of earlier sessions are still to be taken (the backend was
        unreachable when the session tried)."""
        self.drain_retry: asyncio.TimerHandle | None = None
        """The next drain, scheduled while the backend is unreachable."""
        self.drain_pause = 0.0
        """The pause before :attr:`drain_retry` (grows while the backend stays unreachable)."""

    def advance(self, state: SessionState) -> None:
        """Move to ``state``; RuntimeError for a move the life cycle does not have (a bug)."""
        if state not in _NEXT_STATES[self.state]:
            raise RuntimeError(f"session {self.session_id}: {self.state.value} -> {state.value}")
        self.state = state

    def adopt(self, registration: Registration) -> None:
        """Take the identity and announcements of an accepted REGISTER (before REGISTERED)."""
        self.did = registration.did
        self.capabilities = registration.capabilities
        self.capability_info = registration.capability_info
        self.metadata = registration.metadata
        self.recipient_acks = registration.recipient_acks
        self.public_key = registration.public_key

    @property
    def closed(self) -> bool:
        """True once the hub has let go of this session."""
        return self.state is SessionState.CLOSED

    @property
    def writing(self) -> bool:
        """True once the writer started (REGISTERED and the stored frames are queued)."""
        return self._writer is not None

    @property
    def queued_agent_frames(self) -> int:
        """Frames from other agents waiting to be written."""
        return sum(1 for item in self._queue if item.agent)

    @property
    def pending(self) -> int:
        """Frames waiting to be written (the gateway's own and those from other agents)."""
        return len(self._queue) + len(self._control)

    @property
    def answers_pending(self) -> int:
        """The gateway's own frames waiting to be written (what the reader's pause counts)."""
        return len(self._control)

    @property
    def queued_bytes(self) -> int:
        """Bytes of the live frames from other agents waiting to be written."""
        return self._live_bytes

    async def send_now(self, frame: str) -> None:
        """Write ``frame`` directly (only before the writer starts: handshake frames)."""
        await self._send({"type": "websocket.send", "text": frame})

    def enqueue(self, item: Outgoing) -> bool:
        """Queue ``item``; False when closed or at a bound (the peer reads too slowly).

        The bounds of a frame from another agent: ``limit`` frames and ``limit_bytes`` bytes
        queued in this session, and the node's :class:`~.budget.ByteBudget`.
        """
        if self.state is SessionState.CLOSED:
            return False
        if item.agent:
            size = len(item.frame)
            if self._live >= self._limit:
                return False
            if self._limit_bytes and self._live and self._live_bytes + size > self._limit_bytes:
                return False
            if not self._budget.take(size):
                return False
            self._live += 1
            self._live_bytes += size
            self._queue.append(item)
        elif len(self._control) + self._live >= self._control_limit:
            return False
        else:
            self._control.append(item)
        self._wakeup.set()
        return True

    def wake(self) -> None:
        """Let the writer look again (room in the in-flight window was freed)."""
        self._wakeup.set()

    async def drained(self) -> None:
        """Wait while ``limit`` gateway frames or more are queued (the reader's back-pressure).

        Only the gateway's own frames count: they answer what this connection sends. Frames
        from other agents do not (a recipient draining a backlog must go on reading, its
        recipient ACKs among others).
        """
        while len(self._control) >= self._limit and self.state is not SessionState.CLOSED:
            self._drained.clear()
            await self._drained.wait()

    def enqueue_exempt(self, frames: list[tuple[str, str]], first: str | None = None) -> None:
        """Queue stored frames (and ``first``, e.g. REGISTERED, ahead of them) past the bound.

        ``frames`` are (store token, frame) pairs (token "" when the store let go of it).
        They jump ahead of live frames queued while the session was being set up only when
        the writer has not started yet; otherwise they are appended.
        """
        items = [
            Outgoing(frame, agent=True, exempt=True, held=token or None) for token, frame in frames
        ]
        if first is not None:
            self._control.appendleft(Outgoing(first, agent=False, exempt=True))
        if self._writer is None:
            self._queue.extendleft(reversed(items))
        else:
            self._queue.extend(items)
        self._wakeup.set()

    def not_held_yet(self, frames: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """``frames`` (token, frame) but those this session holds already (queued or in flight)."""
        held = {item.held for item in self._queue if item.held is not None}
        if self.inflight is not None:
            held.update(self.inflight.held_tokens())
        return [(token, frame) for token, frame in frames if not token or token not in held]

    def start_writer(self) -> None:
        """Begin writing queued frames (after REGISTERED and stored frames are in front)."""
        if self._writer is None and self.state is not SessionState.CLOSED:
            self._writer = asyncio.get_running_loop().create_task(self._write_loop())

    async def _write_loop(self) -> None:
        control = self._control
        queue = self._queue
        wakeup = self._wakeup
        on_written = self._on_written
        drained = self._drained
        limit = self._limit
        try:
            while True:
                inflight = self.inflight
                answers, agents = self._next_batch(inflight)
                if not answers and not agents:
                    wakeup.clear()
                    await wakeup.wait()
                    continue
                items = answers + agents
                if inflight is not None:
                    # Agent frames move to ``inflight`` before the write: the recipient may
                    # acknowledge one before the write returns. Whatever happens to the
                    # write, they stay there until acknowledged or handed back (terminate).
                    for _ in answers:
                        control.popleft()
                    for item in agents:
                        queue.popleft()
                        self._unqueue(item)
                        inflight.add(item)
                    await self._write(items)
                    for item in answers:
                        on_written(item)
                else:
                    self._in_flight = len(items)
                    await self._write(items)
                    self._in_flight = 0
                    for item in answers:
                        control.popleft()
                        on_written(item)
                    for item in agents:
                        queue.popleft()
                        self._unqueue(item)
                        on_written(item)
                if self.state is SessionState.CLOSED:
                    if inflight is None:
                        self._hand_back()  # closed while the last batch was being flushed
                    return
                if len(control) < limit:
                    drained.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the peer went away; the reader will see the disconnect
            logger.debug("writer of %s stopped: %r", self.session_id, exc)
            self._give_back_in_flight()

    async def _write(self, items: list[Outgoing]) -> None:
        if self._batch_type is not None and len(items) > 1:
            await self._send({"type": self._batch_type, "texts": [i.frame for i in items]})
        else:
            await self._send({"type": "websocket.send", "text": items[0].frame})

    def _next_batch(self, inflight: InFlight | None) -> tuple[list[Outgoing], list[Outgoing]]:
        """The next frames to write: the gateway's own first, then agent frames.

        Up to MAX_BATCH in all; with recipient acknowledgements only as many agent frames as
        the in-flight window has room for (in frames and bytes).
        """
        control = self._control
        answers = [control[i] for i in range(min(len(control), MAX_BATCH))]
        if self._batch_type is None and answers:
            return answers[:1], []
        agents: list[Outgoing] = []
        queue = self._queue
        want = min(len(queue), MAX_BATCH - len(answers))
        if self._batch_type is None:
            want = min(want, 1)
        if inflight is None:
            agents = [queue[i] for i in range(want)]
            return answers, agents
        room, room_bytes = inflight.room, inflight.room_bytes
        for i in range(want):
            item = queue[i]
            size = len(item.frame)
            if room <= 0 or (size > room_bytes and (agents or len(inflight))):
                break
            agents.append(item)
            room -= 1
            room_bytes -= size
        return answers, agents

    def _unqueue(self, item: Outgoing) -> None:
        """``item`` left the queue: it no longer counts against the queue's bounds."""
        if item.agent and not item.exempt and self.state is not SessionState.CLOSED:
            size = len(item.frame)
            self._live -= 1
            self._live_bytes -= size
            self._budget.give(size)

    def _give_back_in_flight(self) -> None:
        """The batch being flushed was lost with the connection: report it unwritten.

        While the session is open its frames simply stay queued (and :meth:`terminate`
        returns them, in order); once closed they resolve :attr:`leftover`.
        """
        count, self._in_flight = self._in_flight, 0
        if count and self.state is SessionState.CLOSED:
            self._hand_back()

    def _hand_back(self) -> None:
        """Closed: report what is still queued (the lost batch first) unwritten, in order."""
        items = list(self._queue)
        self._queue.clear()
        self._control.clear()
        if self.leftover is not None and not self.leftover.done():
            self.leftover.set_result(items)

    def terminate(self, reason: str) -> list[Outgoing]:
        """Mark closed, stop the writer and return every frame not written yet, in order."""
        if self.state is SessionState.CLOSED:
            return []
        self.advance(SessionState.CLOSED)
        self.close_reason = reason
        if self.drain_retry is not None:
            self.drain_retry.cancel()
            self.drain_retry = None
        if self.inflight is not None:
            # Nothing written counts until acknowledged: all of it goes back, in order.
            if self._writer is not None:
                self._writer.cancel()
            unacked = self.inflight.take_all() + list(self._queue)
            self._queue.clear()
            self._control.clear()
            self._release_queue()
            self._in_flight = 0
            self._drained.set()
            return unacked
        flying = self._in_flight
        if self._writer is not None and not flying:
            self._writer.cancel()
        self._release_queue()
        self._drained.set()
        if flying:
            # A batch already handed to the socket stays with the writer (see the module),
            # and so does everything behind it, to be handed back in order.
            self.leftover = asyncio.get_running_loop().create_future()
            if self._writer is not None:
                self._writer.add_done_callback(lambda _: self._hand_back())
            return []
        unsent = list(self._queue)
        self._queue.clear()
        self._control.clear()
        return unsent

    def _release_queue(self) -> None:
        """Closed: the queued live frames no longer count against any bound."""
        self._budget.give(self._live_bytes)
        self._live = self._live_bytes = 0

    def request_close(self, code: CloseCode, reason: str) -> None:
        """Send a close frame in the background (after :meth:`terminate`)."""
        self.close_code = int(code)
        if self._closer is None:
            self._closer = asyncio.get_running_loop().create_task(self._close(code, reason))
            self._close_requested.set()

    async def _close(self, code: int, reason: str) -> None:
        try:
            async with asyncio.timeout(self._close_timeout):
                # "timeout": how long the server lets the closing handshake take (ws_protocol)
                close = {"type": "websocket.close", "code": int(code), "reason": reason}
                await self._send({**close, "timeout": self._close_timeout})
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
