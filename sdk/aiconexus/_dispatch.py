"""What one inbound frame means for the client: the I/O-free half of the read loop.

The connection reads a frame and asks the :class:`Dispatcher` two things:

1. :meth:`Dispatcher.check`: parse the text and pass it through the
   :class:`~aiconexus._inbound.InboundFilter` (addressed to us, signed, fresh, not seen before),
   then open an encrypted payload from another agent (:mod:`aiconexus._e2e`);
2. :meth:`Dispatcher.route`: for a verified frame, decide what it answers (a gateway ACK or
   ERROR answers sends awaiting the gateway, which the Dispatcher looks up in the outbox's
   owner, the :class:`~aiconexus._writer.Writer`, and leaves to it to settle; a PONG or
   ERROR answers a PING to the gateway; an agent's frame answers a ``request()`` or
   ``ping(to)`` waiting for it) or decide that it goes to ``recv()``.

Each returns an :class:`Outcome` that names what is left for the connection, which does the
I/O: put the frame in the inbox, acknowledge it to the gateway (recipient ACK), have the
writer settle, hold or write again the sends answered, or log a drop or a report. Nothing
here awaits, writes, changes a send or reads a clock (the caller passes the clocks in), so
the rules are tested frame by frame without a gateway.
PINGs from other agents are delivered like any frame (``Agent`` answers them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from aiconexus._e2e import open_received
from aiconexus._inbound import InboundFilter
from aiconexus._pending import DeliveryStatus, OutboxEntry, ReplyWaiters
from aiconexus.protocol import ErrorCode, IoapError, Message, MessageType, error_from_code
from aiconexus.protocol.sealed import KeyAgreement

__all__ = [
    "DEFAULT_RETRY_AFTER_S",
    "MAX_RETRY_AFTER_S",
    "MAX_UNCERTAIN_RESEND_S",
    "UNCERTAIN_RESEND_S",
    "Action",
    "Dispatcher",
    "Outcome",
    "SentFrames",
    "error_of",
    "resend_after_s",
    "retry_after_s",
]

DEFAULT_RETRY_AFTER_S = 1.0
"""How long to hold sends after RATE_LIMITED when the ERROR names no ``retry_after_ms``."""
MAX_RETRY_AFTER_S = 60.0
"""Longest hold after RATE_LIMITED, whatever the ERROR says."""
UNCERTAIN_RESEND_S = 0.25
"""Pause before a frame answered INTERNAL_ERROR is written again (doubled each time)."""
MAX_UNCERTAIN_RESEND_S = 5.0
"""Longest pause before a frame answered INTERNAL_ERROR is written again."""


class Action(StrEnum):
    """What an inbound frame turned out to be, and so what the connection does with it."""

    DROP = "drop"
    """Unusable (malformed, not for us, unverified, stale, a duplicate): log ``detail``."""
    VERIFIED = "verified"
    """Passed the checks; to be routed (only :meth:`Dispatcher.check` returns this)."""
    DELIVER = "deliver"
    """A frame from another agent nobody awaits: put it in the inbox for ``recv()``."""
    REPLY = "reply"
    """A frame from another agent that answered a waiting ``request()`` or ``ping(to)``."""
    SETTLED = "settled"
    """A gateway ACK or ERROR answers the sends ``answered``: resolve them with ``status``
    or fail them with ``error``."""
    PING_ANSWERED = "ping_answered"
    """A PONG (or ERROR) from the gateway answered a PING of the heartbeat or ``ping()``."""
    RATE_LIMITED = "rate_limited"
    """The gateway refused ``entry`` as RATE_LIMITED: write nothing for ``hold_s``, then again."""
    UNCERTAIN = "uncertain"
    """The gateway answered ``entry`` INTERNAL_ERROR (outcome unknown, PROTOCOL.md 8.2): write
    it again, same id, after ``hold_s``; never under a new id."""
    ACCEPTED = "accepted"
    """A re-sent copy of ``entry`` was REPLAY_DETECTED: the gateway took an earlier copy
    written on this connection, whose ACK or ERROR is still to come (``entry`` is not
    written again on this connection)."""
    REPORTED = "reported"
    """An ERROR from the gateway that answers nothing awaited: log ``detail``."""
    IGNORED = "ignored"
    """Nothing to do (an ACK or PONG nobody awaits any more, a stray REGISTERED)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """The decision about one inbound frame."""

    action: Action
    message: Message | None = None
    """The parsed frame (None when it did not parse)."""
    receipt: str | None = None
    """Id to acknowledge to the gateway: every parsed frame from another agent, used or not."""
    detail: str = ""
    """Why the frame was dropped, or the error the gateway reported."""
    entry: OutboxEntry | None = None
    """RATE_LIMITED: the refused send, written again (with those after it) after the hold;
    UNCERTAIN: the send to write again."""
    hold_s: float = 0.0
    """RATE_LIMITED: seconds to write nothing; UNCERTAIN: seconds before writing it again."""
    answered: tuple[OutboxEntry, ...] = ()
    """SETTLED, ACCEPTED: the sends the gateway answered (for the send window)."""
    status: DeliveryStatus | None = None
    """SETTLED by an ACK (or a REPLAY_DETECTED meaning taken): the status to resolve with."""
    error: IoapError | None = None
    """SETTLED by an ERROR: the error the sends fail with."""


class SentFrames(Protocol):
    """Where the Dispatcher looks up the sends awaiting the gateway (the outbox's owner)."""

    def awaiting(self, message_id: str) -> OutboxEntry | None:
        """The send ``message_id`` if it still awaits the gateway's answer."""


def error_of(message: Message) -> IoapError:
    """The protocol error an ERROR ``message`` reports."""
    payload = message.payload
    return error_from_code(payload["code"], payload["message"], payload.get("details"))


def retry_after_s(error: IoapError) -> float:
    """Seconds to wait before sending again after a RATE_LIMITED ``error``."""
    details = error.details
    value = details.get("retry_after_ms") if isinstance(details, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return min(float(value) / 1000.0, MAX_RETRY_AFTER_S)
    return DEFAULT_RETRY_AFTER_S


def resend_after_s(times: int) -> float:
    """Pause before writing again a frame answered INTERNAL_ERROR ``times`` times (>= 1).

    >>> [resend_after_s(n) for n in (1, 2, 3, 6, 7, 50)]
    [0.25, 0.5, 1.0, 5.0, 5.0, 5.0]
    """
    return min(MAX_UNCERTAIN_RESEND_S, UNCERTAIN_RESEND_S * 2.0 ** min(max(times, 1) - 1, 30))


class Dispatcher:
    """Checks inbound frames and decides what they answer; see the module docstring.

    ``sends`` looks up the sends awaiting the gateway's ACK (it is read, never changed here),
    ``replies`` holds the ``request()`` and ``ping(to)`` calls awaiting another agent,
    ``pongs`` the PINGs awaiting the gateway (both resolved here: they are answered once).
    ``hold_when_rate_limited`` False: a RATE_LIMITED send fails with the error instead of
    being held and written again.
    """

    def __init__(
        self,
        inbound: InboundFilter,
        *,
        sends: SentFrames,
        replies: ReplyWaiters,
        pongs: ReplyWaiters,
        keys: KeyAgreement | None = None,
        hold_when_rate_limited: bool = True,
    ) -> None:
        self.inbound = inbound
        """The checks of inbound frames (its duplicate memory is read and edited too)."""
        self._hold_when_rate_limited = hold_when_rate_limited
        self._keys = keys  # opens encrypted payloads (PROTOCOL.md 8.10); None: left sealed
        self._sends = sends
        self._replies = replies
        self._pongs = pongs

    def check(
        self, frame: str | bytes, gateway_did: str, now: datetime, monotonic_now: float
    ) -> Outcome:
        """Parse and check ``frame``: :attr:`Action.VERIFIED` or :attr:`Action.DROP`.

        ``now`` is the wall clock (aware UTC), ``monotonic_now`` a monotonic clock in seconds;
        a verified frame is remembered, so its ``(from, id)`` is dropped next time.
        """
        if not isinstance(frame, str):
            return Outcome(Action.DROP, detail="a binary frame")
        try:
            message = Message.parse(frame)
        except IoapError as exc:
            return Outcome(Action.DROP, detail=f"a malformed frame: {exc}")
        receipt = None if message.from_ == gateway_did else message.id
        problem = self.inbound.check(message, gateway_did, now, monotonic_now)
        if problem is not None:
            detail = f"{message.type} {message.id} from {message.from_}: {problem}"
            return Outcome(Action.DROP, message, receipt, detail)
        if receipt is not None and self._keys is not None:  # verified, new: open it
            message, problem = open_received(message, self._keys)
            if problem is not None:
                detail = f"{message.type} {message.id} from {message.from_}: {problem}"
                return Outcome(Action.DROP, message, receipt, detail)
        return Outcome(Action.VERIFIED, message, receipt)

    def route(self, message: Message, gateway_did: str) -> Outcome:
        """Decide what the verified ``message`` answers, or that it goes to ``recv()``."""
        if message.from_ == gateway_did:
            return self._from_gateway(message)
        if self._replies.resolve(message):
            return Outcome(Action.REPLY, message, message.id)
        return Outcome(Action.DELIVER, message, message.id)

    def _from_gateway(self, message: Message) -> Outcome:
        payload = message.payload
        if message.type == MessageType.ACK and payload["status"] != "received":
            found = (self._sends.awaiting(i) for i in dict.fromkeys(payload["ids"]))
            acked = tuple(entry for entry in found if entry is not None)
            action = Action.SETTLED if acked else Action.IGNORED
            return Outcome(action, message, answered=acked, status=payload["status"])
        if message.type == MessageType.PONG:
            answered = self._pongs.resolve(message)
            return Outcome(Action.PING_ANSWERED if answered else Action.IGNORED, message)
        if message.type != MessageType.ERROR:
            return Outcome(Action.IGNORED, message)
        error = error_of(message)
        answered_id = message.correlation_id
        entry = self._sends.awaiting(answered_id) if answered_id else None
        if entry is not None:
            return self._answers_send(message, entry, error)
        if answered_id is not None and self._pongs.fail(answered_id, error):
            return Outcome(Action.PING_ANSWERED, message, detail=str(error))
        if error.code == ErrorCode.REPLAY_DETECTED:  # a re-sent copy of a frame settled since
            return Outcome(Action.IGNORED, message, detail=str(error))
        return Outcome(Action.REPORTED, message, detail=str(error))

    def _answers_send(self, message: Message, entry: OutboxEntry, error: IoapError) -> Outcome:
        """What the gateway's ERROR ``message`` about the send ``entry`` means for it."""
        detail = str(error)
        if error.code == ErrorCode.REPLAY_DETECTED and entry.attempts > 1:
            if not entry.resumed and not entry.uncertain:
                # An earlier copy on this connection was taken: its ACK will come.
                return Outcome(Action.ACCEPTED, message, entry=entry, answered=(entry,))
            # Taken on an earlier connection whose ACK was lost, or taken after all by a
            # copy answered INTERNAL_ERROR (whose ACK will never come): it was accepted.
            taken = (entry,)
            return Outcome(Action.SETTLED, message, detail=detail, answered=taken, status="queued")
        if error.code == ErrorCode.INTERNAL_ERROR:
            hold_s = resend_after_s(entry.uncertain + 1)
            return Outcome(Action.UNCERTAIN, message, detail=detail, entry=entry, hold_s=hold_s)
        if error.code == ErrorCode.RATE_LIMITED and self._hold_when_rate_limited:
            return Outcome(Action.RATE_LIMITED, message, entry=entry, hold_s=retry_after_s(error))
        return Outcome(Action.SETTLED, message, detail=detail, answered=(entry,), error=error)
