"""The outgoing half of the connection: the outbox, and its frames written to each session.

The :class:`Writer` owns the :class:`~aiconexus._pending.Outbox`: it alone adds, settles,
re-signs and fails its entries; the others ask it (the connection submits and withdraws
sends, the :class:`~aiconexus._dispatch.Dispatcher` looks sends up and decides what the
gateway's answer means, :meth:`Writer.on_answer` applies that decision). Every frame sent
stays in the outbox until the gateway answers it. On each new session the writer writes
every entry again, oldest first, with its original id (re-signed with a new timestamp when
older than the clock skew allowance), and only then goes online; while online, a new entry
is written at once, as long as the send window (:mod:`aiconexus._window`) has room. The
gateway's RATE_LIMITED (and INTERNAL_ERROR, outcome unknown) holds all writing for a while,
shrinks the window and writes the refused frame and those after it again under their ids,
a frame left unanswered while nothing else is answered is written again under its id, and
a close 1009 fails the frame that was too big instead of re-sending it forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import time
from collections.abc import Sequence

from websockets.exceptions import ConnectionClosed

from aiconexus._dispatch import Action, Outcome
from aiconexus._pending import DeliveryStatus, Outbox, OutboxEntry
from aiconexus._session import Session
from aiconexus._window import RetransmitTimer, SendWindow
from aiconexus.protocol import (
    MAX_JSON_DEPTH,
    CloseCode,
    ErrorCode,
    Identity,
    Message,
    MessageTooLargeError,
    check_nesting,
    error_from_code,
)

__all__ = ["Writer", "check_outgoing", "resign_after_s"]


def check_outgoing(message: Message, max_message_size: int) -> None:
    """Refuse before any write a frame the gateway would refuse: nested too deep, too big."""
    text = message.to_json()
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH:
        check_nesting(message.payload, level=2)
    size = len(text.encode("utf-8"))
    if size > max_message_size:
        raise error_from_code(
            ErrorCode.MESSAGE_TOO_LARGE, f"frame of {size} bytes exceeds {max_message_size}"
        )


def resign_after_s(clock_skew_s: float) -> float:
    """Age past which a frame written again is re-signed: well inside the skew allowance.

    >>> resign_after_s(300.0), resign_after_s(20.0)
    (270.0, 15.0)
    """
    return clock_skew_s - min(clock_skew_s / 2, max(5.0, clock_skew_s / 10))


class Writer:
    """Owns the outbox; writes it and control frames to one session at a time, under one lock.

    Frames are written oldest first, as many at once as the :class:`SendWindow` allows
    (any number until the gateway pushes back). Each answer from the gateway (ACK or ERROR)
    reported with :meth:`answered` frees a place and grows the window. RATE_LIMITED
    (:meth:`hold`) shrinks the window, waits, and writes the refused frame and those after
    it again; a frame left unanswered for the :class:`RetransmitTimer`'s delay while no
    other is answered either is written again under its id (the gateway's replay check
    makes that safe: a copy of a frame it took is answered REPLAY_DETECTED).
    """

    def __init__(self, identity: Identity, *, resign_after_s: float) -> None:
        self._identity = identity
        self._outbox = Outbox()
        self._resign_after_s = resign_after_s
        self._lock = asyncio.Lock()
        self.online = asyncio.Event()
        """Set once the outbox was written to the current session (frames flow)."""
        self.session: Session | None = None
        """The current session (None between sessions)."""
        self.window = SendWindow()
        """How many frames may await an answer at once (kept across sessions)."""
        self.timer = RetransmitTimer()
        """When an unanswered frame is written again (kept across sessions)."""
        self._number = 0
        self._resume_at = 0.0
        """Loop time before which nothing is written (the gateway answered RATE_LIMITED)."""
        self._kick_at = 0.0
        self._todo: list[tuple[int, str]] = []
        """Heap of (seq, id) of entries to write on this session."""
        self._in_flight: dict[str, OutboxEntry] = {}
        """Entries written on this session and not answered yet."""
        self._quiet_since = 0.0
        self._busy = asyncio.Event()
        self._pump_task: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._stopped = False

    @property
    def in_flight(self) -> int:
        """Frames written on this session that the gateway has not answered yet."""
        return len(self._in_flight)

    @property
    def unacknowledged(self) -> int:
        """Frames in the outbox: submitted and not answered by the gateway yet."""
        return len(self._outbox)

    # -- the outbox --------------------------------------------------------------------------
    def add(self, message: Message) -> OutboxEntry:
        """Keep ``message`` until the gateway answers it (:meth:`write` writes it).

        Raises ValueError when a frame with its id is already awaiting an answer.
        """
        return self._outbox.add(message)

    def withdraw(self, message_id: str) -> None:
        """Forget the send ``message_id`` (answered, or its sender stopped waiting)."""
        self._outbox.discard(message_id)

    def awaiting(self, message_id: str) -> OutboxEntry | None:
        """The send ``message_id`` if it still awaits the gateway's answer."""
        return self._outbox.get(message_id)

    def fail_all(self, error: BaseException) -> None:
        """The client closed for good: every send still waiting fails with ``error``."""
        self._outbox.reject_all(error)

    def begin(self, session: Session) -> None:
        """Write to ``session`` from now on (call :meth:`flush` to go online)."""
        self._number += 1
        self.session = session
        self._in_flight.clear()
        self._busy.clear()
        self._todo = []
        for entry in self._outbox.entries():
            entry.resumed = entry.resumed or entry.attempts > 0
            entry.accepted = False
            self._todo.append((entry.seq, entry.message.id))
        heapq.heapify(self._todo)
        self._watchdog = asyncio.get_running_loop().create_task(self._watch(session))

    def end(self) -> None:
        """The session ended: go offline; what was not acknowledged waits for the next one."""
        self.online.clear()
        self.session = None
        for task in (self._watchdog, self._pump_task):
            if task is not None:
                task.cancel()

    def stop(self) -> None:
        """The client is closing: write nothing more."""
        self._stopped = True
        self.end()

    async def flush(self, session: Session) -> None:
        """Write the frames not yet written on this session (as the window allows); go online.

        Raises ``ConnectionClosed`` when the connection drops meanwhile.
        """
        await self._pump(session)
        self.online.set()

    async def write(self, entry: OutboxEntry) -> None:
        """Write ``entry`` now if online, not on hold and the window allows; else later."""
        heapq.heappush(self._todo, (entry.seq, entry.message.id))
        session = self.session
        if session is None or not self.online.is_set():
            return
        # On a closed connection the reader notices; the frame is written again later.
        with contextlib.suppress(ConnectionClosed):
            await self._pump(session)

    async def send(self, session: Session, message: Message) -> None:
        """Write a control frame (PING, UNREGISTER) to ``session`` between outbox writes."""
        async with self._lock:
            await session.connection.send(message.to_json())

    async def _pump(self, session: Session) -> None:
        """Write entries of the heap, oldest first, while the window has room."""
        loop = asyncio.get_running_loop()
        async with self._lock:
            while self._todo and session is self.session and not self._stopped:
                if loop.time() < self._resume_at:
                    if self._kick_at != self._resume_at:
                        self._kick_at = self._resume_at
                        loop.call_at(self._resume_at, self._kick)
                    return
                if not self.window.has_room(len(self._in_flight)):
                    self._forget_abandoned()
                    if not self.window.has_room(len(self._in_flight)):
                        return
                _, message_id = heapq.heappop(self._todo)
                entry = self._outbox.get(message_id)
                if entry is None or entry.written_on == self._number or entry.accepted:
                    continue
                if not self._in_flight:
                    self._quiet_since = loop.time()
                    self._busy.set()
                self._in_flight[message_id] = entry
                await self._write(session, entry)

    def _forget_abandoned(self) -> None:
        """Free the places of frames whose senders stopped waiting (timeout, cancel)."""
        for message_id in [i for i in self._in_flight if i not in self._outbox]:
            del self._in_flight[message_id]

    def _kick(self) -> None:
        """Pump soon, from code that cannot await (an answer, the end of a hold)."""
        session = self.session
        if session is None or self._stopped or not self._todo:
            return
        if self._pump_task is None or self._pump_task.done():
            self._pump_task = asyncio.get_running_loop().create_task(self._pump_quietly(session))

    async def _pump_quietly(self, session: Session) -> None:
        with contextlib.suppress(ConnectionClosed):  # the reader notices; the next session writes
            await self._pump(session)

    async def _write(self, session: Session, entry: OutboxEntry) -> None:
        message = entry.message
        age = time.time() - message.sent_at_s
        if age > self._resign_after_s:
            message = Message.create(
                self._identity,
                message.type,
                message.to,
                message.payload,
                correlation_id=message.correlation_id,
                id=message.id,
            )
            self._outbox.replace(message)
        entry.attempts += 1
        entry.written_on = self._number
        entry.written_at = asyncio.get_running_loop().time()
        await session.connection.send(message.to_json())

    # -- answers -----------------------------------------------------------------------------
    def on_answer(self, outcome: Outcome) -> None:
        """Apply what the Dispatcher decided about the gateway's answer to sends.

        SETTLED resolves or fails the sends, ACCEPTED marks a send whose earlier copy was
        taken (its ACK is on the way), UNCERTAIN (INTERNAL_ERROR) and RATE_LIMITED write the
        send again after ``hold_s``. Other outcomes concern no send.
        """
        entry = outcome.entry
        match outcome.action:
            case Action.SETTLED:
                result = outcome.error if outcome.error is not None else outcome.status
                if result is not None:
                    self.settle(outcome.answered, result)
            case Action.ACCEPTED if entry is not None:
                entry.accepted = True
                self._answered((entry,))
            case Action.UNCERTAIN if entry is not None:
                entry.uncertain += 1
                entry.accepted = False
                self.hold(entry, outcome.hold_s)
            case Action.RATE_LIMITED if entry is not None:
                self.hold(entry, outcome.hold_s)

    def settle(
        self, entries: Sequence[OutboxEntry], result: DeliveryStatus | BaseException
    ) -> None:
        """The gateway answered ``entries``: resolve them with its ACK status, or fail them."""
        for entry in entries:
            if isinstance(result, BaseException):
                self._outbox.reject(entry.message.id, result)
            else:
                self._outbox.acknowledge(entry.message.id, result)
        self._answered(entries)

    def _answered(self, entries: Sequence[OutboxEntry]) -> None:
        """The gateway answered ``entries`` (ACK, ERROR, or REPLAY_DETECTED of a re-send)."""
        now = asyncio.get_running_loop().time()
        for entry in entries:
            if self._in_flight.pop(entry.message.id, None) is None:
                continue
            if entry.attempts == 1:
                self.timer.sample(now - entry.written_at)
            self.timer.progressed()
            self.window.on_answered()
        if entries:
            self._quiet_since = now
        if not self._in_flight:
            self._busy.clear()
        self._kick()

    def hold(self, entry: OutboxEntry, delay_s: float) -> None:
        """RATE_LIMITED: write nothing for ``delay_s``, then ``entry`` and those after it again.

        Also for INTERNAL_ERROR (outcome unknown): ``entry`` is written again under its id,
        and those after it too, so that the recipient still gets them in order.

        Frames written after ``entry`` on this session were probably refused too (some
        without an ERROR, past the gateway's ERROR budget); one that was accepted after all
        is answered REPLAY_DETECTED on the re-send, and then awaits its ACK.
        """
        loop = asyncio.get_running_loop()
        self._resume_at = max(self._resume_at, loop.time() + delay_s)
        self.window.on_refused()
        self._quiet_since = loop.time()
        self._write_again([e for e in self._in_flight.values() if e.seq >= entry.seq])
        if entry.written_on == self._number:  # written again already, refused again
            self._write_again([entry])
        if self._kick_at != self._resume_at:
            self._kick_at = self._resume_at
            loop.call_at(self._resume_at, self._kick)

    def _write_again(self, entries: Sequence[OutboxEntry]) -> None:
        for entry in entries:
            self._in_flight.pop(entry.message.id, None)
            entry.written_on = -1
            heapq.heappush(self._todo, (entry.seq, entry.message.id))
        if not self._in_flight:
            self._busy.clear()

    async def _watch(self, session: Session) -> None:
        """Write again what stays unanswered while nothing is answered (see the class doc)."""
        loop = asyncio.get_running_loop()
        while session is self.session:
            await self._busy.wait()
            deadline = max(self._quiet_since, self._resume_at) + self.timer.timeout_s
            if loop.time() < deadline:
                await asyncio.sleep(deadline - loop.time())
                continue
            if not self._in_flight:
                self._busy.clear()
                continue
            self.timer.expired()
            self.window.on_refused()
            self._quiet_since = loop.time()
            self._write_again(list(self._in_flight.values()))
            self._kick()

    def fail_largest_written(self, reason: str) -> None:
        """Close 1009: the largest frame written on this session was too big; fail it.

        (Re-sending it after a reconnection would only close the next connection too.)
        """
        written = [e for e in self._outbox.entries() if e.written_on == self._number]
        if not written:
            return
        largest = max(written, key=lambda e: len(e.message.to_json()))
        code = int(CloseCode.MESSAGE_TOO_BIG)
        message = f"the gateway closed the connection ({code} {reason or 'message too big'})"
        self._outbox.reject(largest.message.id, MessageTooLargeError(message))
