"""The outgoing half of the connection: the outbox written to the current session, in order.

Every frame sent stays in the :class:`~aiconexus._pending.Outbox` until the gateway
acknowledges it. On each new session the :class:`Writer` writes every entry again, oldest
first, with its original id (re-signed with a new timestamp when older than the clock skew
allowance), and only then goes online; while online, a new entry is written at once. The
gateway's RATE_LIMITED holds all writing for a while, and a close 1009 fails the frame that
was too big instead of re-sending it forever.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

from websockets.exceptions import ConnectionClosed

from aiconexus._pending import Outbox, OutboxEntry
from aiconexus._session import Session
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

__all__ = ["Writer", "check_outgoing"]


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


class Writer:
    """Writes the outbox and control frames to one session at a time, under one lock."""

    def __init__(self, identity: Identity, outbox: Outbox, *, resign_after_s: float) -> None:
        self._identity = identity
        self._outbox = outbox
        self._resign_after_s = resign_after_s
        self._lock = asyncio.Lock()
        self.online = asyncio.Event()
        """Set once the outbox was written to the current session (frames flow)."""
        self.session: Session | None = None
        """The current session (None between sessions)."""
        self._number = 0
        self._resume_at = 0.0
        """Loop time before which nothing is written (the gateway answered RATE_LIMITED)."""
        self._resender: asyncio.Task[None] | None = None
        self._stopped = False

    def begin(self, session: Session) -> None:
        """Write to ``session`` from now on (call :meth:`flush` to go online)."""
        self._number += 1
        self.session = session

    def end(self) -> None:
        """The session ended: go offline; what was not acknowledged waits for the next one."""
        self.online.clear()
        self.session = None

    def stop(self) -> None:
        """The client is closing: write nothing more."""
        self._stopped = True
        self.online.clear()
        if self._resender is not None:
            self._resender.cancel()

    async def flush(self, session: Session) -> None:
        """Write every frame not yet written on this session, oldest first; go online.

        Raises ``ConnectionClosed`` when the connection drops meanwhile.
        """
        async with self._lock:
            while True:
                todo = [e for e in self._outbox.entries() if e.written_on != self._number]
                if not todo:
                    break
                for entry in todo:
                    if entry.message.id in self._outbox:
                        await self._write(session, entry)
            self.online.set()

    async def write(self, entry: OutboxEntry) -> None:
        """Write ``entry`` now if online and not on hold; else the next flush writes it."""
        if not self.online.is_set():
            return
        async with self._lock:
            session = self.session
            if (
                session is None
                or not self.online.is_set()
                or asyncio.get_running_loop().time() < self._resume_at
                or entry.written_on == self._number
                or entry.message.id not in self._outbox
            ):
                return
            # On a closed connection the reader notices; the frame is written again later.
            with contextlib.suppress(ConnectionClosed):
                await self._write(session, entry)

    async def send(self, session: Session, message: Message) -> None:
        """Write a control frame (PING, UNREGISTER) to ``session`` between outbox writes."""
        async with self._lock:
            await session.connection.send(message.to_json())

    async def _write(self, session: Session, entry: OutboxEntry) -> None:
        message = entry.message
        age = (datetime.now(UTC) - message.sent_at).total_seconds()
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
        await session.connection.send(message.to_json())

    # -- refusals that are not the frame's fault or that a re-send cannot mend --------------
    def hold(self, entry: OutboxEntry, delay_s: float) -> None:
        """RATE_LIMITED: write nothing for ``delay_s``, then ``entry`` and those after it again.

        Frames written after ``entry`` on this session were probably refused too (some
        without an ERROR); one that was accepted after all is answered REPLAY_DETECTED on
        the re-send, which counts as its ACK.
        """
        loop = asyncio.get_running_loop()
        self._resume_at = max(self._resume_at, loop.time() + delay_s)
        later = False
        for candidate in self._outbox.entries():
            later = later or candidate is entry
            if later and candidate.written_on == self._number:
                candidate.written_on = -1
        if self._resender is None or self._resender.done():
            self._resender = asyncio.create_task(self._resend_when_allowed())

    async def _resend_when_allowed(self) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(100):  # the hold may be extended while we wait
            wait = self._resume_at - loop.time()
            if wait <= 0:
                break
            await asyncio.sleep(wait)
        session = self.session
        if session is None or not self.online.is_set() or self._stopped:
            return  # the next session writes everything pending anyway
        with contextlib.suppress(ConnectionClosed):
            await self.flush(session)

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
