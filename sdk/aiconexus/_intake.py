"""Frames from other agents after their checks: kept for a reader, remembered, acknowledged.

A frame another agent sent, once the :class:`~aiconexus._dispatch.Dispatcher` verified it,
either answers a waiting ``request()`` or ``ping(to)`` or waits in the
:class:`~aiconexus._inbox.Inbox` for a reader. The :class:`Intake` does what follows: it
keeps the frame (or, the inbox being full, refuses it: neither kept nor acknowledged, so
the gateway delivers it again later), adds it to the duplicate memory file
(:mod:`aiconexus._received_log`) and acknowledges it to the gateway
(:mod:`aiconexus._receipts`) when :class:`AckOptions` say: when it is put in the inbox, or
with ``on_take`` when a reader takes it or once it has waited ``within_s`` untaken.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from websockets.exceptions import ConnectionClosed

from aiconexus._dispatch import Action, Outcome
from aiconexus._inbound import InboundFilter
from aiconexus._inbox import Inbox
from aiconexus._receipts import Receipts
from aiconexus._received_log import ReceivedLog
from aiconexus._session import Session
from aiconexus.protocol import Identity, Message

__all__ = ["DEFAULT_ACK_WITHIN_S", "FLUSH_WAIT_S", "AckOptions", "AckWhen", "Intake"]

AckWhen = Literal["received", "taken"]
"""When a received frame is acknowledged to the gateway: in the inbox, or read from it."""

DEFAULT_ACK_WITHIN_S = 10.0
"""With ``on_take``: a frame left in the inbox this long is acknowledged anyway (well below
the gateway's default ``ACK_TIMEOUT`` of 30 s, past which it closes a recipient that leaves
a frame unacknowledged as a slow consumer)."""
FLUSH_WAIT_S = 2.0
"""Longest wait, when the client closes, for the acknowledgements noted to be written."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AckOptions:
    """When a frame from another agent is acknowledged to the gateway.

    Raises ValueError when ``within_s`` is not positive.
    """

    on_take: bool = False
    """False: as soon as it is put in the inbox; True: when a reader takes it."""
    within_s: float = DEFAULT_ACK_WITHIN_S
    """With ``on_take``: acknowledge a frame left untaken this long anyway (it stays)."""

    def __post_init__(self) -> None:
        if not self.within_s > 0:
            raise ValueError("ack_within_s must be > 0")

    @classmethod
    def of(cls, ack_when: AckWhen, within_s: float = DEFAULT_ACK_WITHIN_S) -> AckOptions:
        """The options a client's ``ack_when`` and ``ack_within_s`` name (ValueError if bad)."""
        if ack_when not in ("received", "taken"):
            raise ValueError(f"ack_when must be 'received' or 'taken', not {ack_when!r}")
        return cls(on_take=ack_when == "taken", within_s=within_s)


class Intake:
    """The receiving side of one client across its sessions; see the module docstring.

    ``checks`` are the inbound checks (their memory of seen frames is filled from the
    duplicate ``memory`` file at :meth:`open`, and a refused frame is forgotten there so that
    its next copy is taken in), ``inbox`` keeps frames for the readers.
    """

    def __init__(
        self,
        identity: Identity,
        checks: InboundFilter,
        inbox: Inbox,
        *,
        acks: AckOptions = AckOptions(),
        memory: ReceivedLog | None = None,
        logger: logging.Logger,
    ) -> None:
        self._identity = identity
        self.checks = checks
        """The inbound checks (the Dispatcher runs them)."""
        self._inbox = inbox
        self._acks = acks
        self._memory = memory
        self._logger = logger
        self._receipts: Receipts | None = None
        self._overdue: asyncio.Task[None] | None = None
        self._acked_early: set[tuple[str, str]] = set()
        """Frames in the inbox acknowledged on this session before a reader took them."""
        self._warned_full = False

    def open(self) -> None:
        """Read the duplicate memory: frames acknowledged by an earlier process are dropped."""
        if self._memory is None:
            return
        now = time.monotonic()
        for sender, message_id in self._memory.open(time.time()):
            self.checks.remember(sender, message_id, now)

    def close(self) -> None:
        """The client closed for good: readers drain the inbox, the memory file is closed."""
        self._inbox.close()
        if self._memory is not None:
            self._memory.close()

    # -- sessions ----------------------------------------------------------------------------
    def begin(self, session: Session) -> None:
        """Acknowledge on ``session`` from now on (if the gateway confirmed recipient acks)."""
        self._acked_early.clear()
        if not session.recipient_acks:
            return
        self._receipts = receipts = Receipts(session, self._identity)
        if self._acks.on_take:
            self._overdue = asyncio.get_running_loop().create_task(self._ack_overdue(receipts))

    async def end(self) -> None:
        """The session ended: acknowledgements not written yet are dropped (see Receipts)."""
        receipts, overdue = self._receipts, self._overdue
        self._receipts = self._overdue = None
        if overdue is not None:
            overdue.cancel()
            await asyncio.gather(overdue, return_exceptions=True)
        if receipts is not None:
            await receipts.close()

    async def flush(self) -> None:
        """Write the acknowledgements noted so far (the client is closing), within a bound."""
        if self._receipts is not None:
            with contextlib.suppress(ConnectionClosed, TimeoutError):
                async with asyncio.timeout(FLUSH_WAIT_S):
                    await self._receipts.flush()

    # -- frames ------------------------------------------------------------------------------
    def take_in(self, outcome: Outcome) -> None:
        """Do what ``outcome`` leaves to do with a frame from another agent (others: nothing).

        A delivered frame is kept for a reader; a frame kept, answering a waiter, or dropped
        for good is acknowledged (and remembered), except a copy of a frame still waiting
        in the inbox and a frame left to be acknowledged when taken.
        """
        message, receipt = outcome.message, outcome.receipt
        if message is None or receipt is None:
            return
        match outcome.action:
            case Action.DROP if self._inbox.holds(message.from_, message.id):
                return  # a copy of a frame still waiting: acknowledged when taken
            case Action.DELIVER:
                if not self._inbox.put(message):
                    self._refuse(message)
                    return
                if self._acks.on_take:
                    return
                self._remember(message)
            case Action.REPLY:
                self._remember(message)
        if self._receipts is not None:
            self._receipts.note(receipt)

    async def take(
        self,
        accept: Callable[[Message], bool] | None = None,
        *,
        keep_at_most: int | None = None,
        keep_for_s: float | None = None,
    ) -> Message | None:
        """The oldest frame ``accept`` takes (see ``Inbox.get``); None once closed and drained.

        With ``on_take`` the frame is acknowledged now, unless it was already.
        """
        message = await self._inbox.get(accept, keep_at_most=keep_at_most, keep_for_s=keep_for_s)
        if message is not None:
            self._taken(message)
        return message

    def readers_changed(self) -> None:
        """What a selective reader accepts changed: readers look at the inbox again."""
        self._inbox.wake()

    def _taken(self, message: Message) -> None:
        self._warned_full = False
        if not self._acks.on_take:
            return
        key = (message.from_, message.id)
        if key in self._acked_early:
            self._acked_early.discard(key)
            return
        self._remember(message)
        if self._receipts is not None:
            self._receipts.note(message.id)
        # Between sessions: the gateway delivers it again; the copy is dropped and acknowledged.

    def _refuse(self, message: Message) -> None:
        """The inbox is full: neither keep nor acknowledge ``message``; its copy is wanted."""
        self.checks.forget(message.from_, message.id)
        if not self._warned_full:
            self._warned_full = True
            self._logger.warning(
                "%d received frames wait for a reader; frames are left with the gateway "
                "until they are read",
                self._inbox.limit,
            )

    def _remember(self, message: Message) -> None:
        if self._memory is not None:
            self._memory.add(message.from_, message.id, time.time())

    async def _ack_overdue(self, receipts: Receipts) -> None:
        """Acknowledge frames that waited ``within_s`` untaken; they stay for a reader.

        The gateway would otherwise close the session as a slow consumer and deliver them
        again, over and over while the reader is busy.
        """
        within_s = self._acks.within_s
        while True:
            await asyncio.sleep(within_s / 4)
            for message in self._inbox.arrived_before(time.monotonic() - within_s):
                key = (message.from_, message.id)
                if key not in self._acked_early:
                    self._acked_early.add(key)
                    self._remember(message)
                    receipts.note(message.id)
