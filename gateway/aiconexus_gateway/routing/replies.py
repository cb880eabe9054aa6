"""The gateway's answers to a sender: coalesced ACKs, and ERRORs within the refusal budget.

Every accepted frame is acknowledged once (ACKs of one loop iteration are coalesced per
sender and status, then signed, off the loop when threads are configured) or answered by
one ERROR. A refused frame is answered within the connection's ERROR budget
(:mod:`..guards.refusals` returns the verdict), and a streak of refusals closes the
connection. A frame whose storing failed has its id freed first (:mod:`.uncertain` when the
outcome is unknown). A session whose queue cannot take the answer is a slow consumer:
``close`` (the hub) closes it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from aiconexus.protocol import CloseCode, ErrorCode, IoapError, close_reason, error_from_code
from aiconexus_gateway.backend.base import BackendUnavailableError

from .frames import GatewayFrames
from .outgoing import Kind, Outgoing
from .parts import Parts
from .session import Session

__all__ = ["MAX_ACK_IDS", "Replies"]

logger = logging.getLogger("aiconexus.gateway")

MAX_ACK_IDS = 256
"""Most ids one coalesced ACK lists (keeps it far below any frame size limit)."""

Close = Callable[[Session, CloseCode, str], None]
"""Closes a session (code, reason); what it held goes back to the store."""
Spawn = Callable[[Coroutine[Any, Any, Any]], None]


class Replies:
    """ACKs and ERRORs to the live sessions of ``sessions`` (keyed by DID)."""

    def __init__(
        self, parts: Parts, sessions: Mapping[str, Session], *, close: Close, spawn: Spawn
    ) -> None:
        self._parts = parts
        self._frames = parts.frames
        self._metrics = parts.metrics
        self._guards = parts.guards
        self._sessions = sessions
        self._close = close
        self._spawn = spawn
        self._acks: dict[tuple[str, str], list[str]] = {}
        self._ack_flush_scheduled = False
        self._signing = 0

    def acknowledge(self, did: str, message_id: str, status: str) -> None:
        """ACK ``message_id`` to the current session of ``did``, if any.

        ACKs are coalesced: the ids acknowledged during one loop iteration go out as one
        signed ACK per (sender, status), flushed right after (``loop.call_soon``).
        """
        if did not in self._sessions:
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

    @property
    def pending(self) -> bool:
        """True while an ACK is decided but not yet queued (coalescing, or being signed)."""
        return bool(self._acks) or self._signing > 0

    def _flush_acks(self) -> None:
        self._ack_flush_scheduled = False
        pending, self._acks = self._acks, {}
        for (did, status), ids in pending.items():
            self._send_ack(did, ids, status)

    def _send_ack(self, did: str, ids: list[str], status: str) -> None:
        """Sign (off the loop when threads are configured) and send one ACK of ``ids``."""
        if did not in self._sessions:
            return
        envelope = self._frames.unsigned_ack(did, ids, status)
        self._signing += 1

        def signed(signature: Any, error: BaseException | None) -> None:
            self._signing -= 1
            session = self._sessions.get(did)
            if error is not None:
                logger.error("signing an ACK failed: %r", error)
            elif session is not None:
                self.send_control(session, GatewayFrames.signed(envelope, signature))

        self._parts.crypto.sign(GatewayFrames.ack_signing_bytes(envelope), signed)

    def send_control(self, session: Session, frame: str) -> None:
        """Queue a gateway frame (ACK, ERROR, PONG); a full queue closes the session."""
        if not session.enqueue(Outgoing(frame, Kind.CONTROL)) and not session.closed:
            self._close(session, CloseCode.TRY_AGAIN_LATER, "slow consumer")

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
        (:mod:`..guards.refusals`): then it is closed 1008 with the code as the reason.
        ``verified=False``: the frame was refused before its signature was verified.
        """
        code = str(error.code)
        self._metrics.rejected[code] += 1
        guards = self._guards
        guards.refusal_log.note(code, error.message, session=session.session_id, did=session.did)
        verdict = guards.refusals.refused(session.refusals, code, verified=verified)
        if verdict.answer:
            self.send_control(session, self._frames.error_frame(session.did, error, correlation_id))
        else:
            self._metrics.errors_suppressed += 1
        if verdict.close:
            why = close_reason(code, "too many refused frames in a row")
            self._close(session, CloseCode.POLICY_VIOLATION, why)

    def store_outcome(self, item: Outgoing, code: ErrorCode | None, message: str) -> None:
        """The store kept ``item`` (``code`` None: ACK ``queued``) or refused it (ERROR)."""
        origin = item.acknowledged_to
        if code is None:
            self._metrics.queued += 1
            if origin is not None:
                self.acknowledge(origin[0], origin[1], "queued")
            return
        self._metrics.rejected[code.value] += 1
        self._guards.refusal_log.note(
            code, message, did=item.sender, correlation_id=item.message_id
        )
        if origin is None:
            logger.warning("dropped a frame that could not be stored again: %s", message)
            return
        if code is ErrorCode.INTERNAL_ERROR:
            self.outcome_unknown(origin[0], origin[1], error_from_code(code, message))
            return
        self._spawn(self._refused(origin[0], origin[1], code, message))

    def outcome_unknown(self, sender: str, message_id: str, error: IoapError) -> None:
        """Answer INTERNAL_ERROR (outcome unknown): the id is freed unless the frame was taken.

        See :mod:`.uncertain`; the sender sends the same frame again.
        """
        self._parts.uncertain.add(sender, message_id)
        session = self._sessions.get(sender)
        if session is not None:
            self.send_control(session, self._frames.error_frame(sender, error, message_id))

    async def _refused(self, sender: str, message_id: str, code: ErrorCode, message: str) -> None:
        """A frame was not taken: free its id for a re-send, then answer ERROR ``code``."""
        try:
            await self._parts.backend.forget(sender, message_id)
        except BackendUnavailableError as exc:
            logger.warning("could not free the id of a refused frame: %s", exc)
        session = self._sessions.get(sender)
        if session is not None:
            error = error_from_code(code, message)
            self.send_control(session, self._frames.error_frame(sender, error, message_id))
