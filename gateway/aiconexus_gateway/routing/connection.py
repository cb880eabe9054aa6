"""One WebSocket connection, from accept to close: the handshake, then frames.

The handshake's frames and checks are the protocol core's
(:class:`aiconexus.protocol.ServerHandshake`, with the gateway's limits from
:mod:`..guards.register_checks`); this module carries them and adds the gateway's own
decisions (connection limits, the address's REGISTER budget, the access policy, the backend).
Everything it uses is handed to :class:`ConnectionHandler` once, where the app is assembled.

This module speaks plain ASGI (``receive``/``send`` message dicts) and knows nothing of the
web framework in front of it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import MutableMapping
from functools import partial
from typing import Any

import orjson

from aiconexus.protocol import (
    MAX_CLOSE_REASON,
    CloseCode,
    ConnectionRefusedByPeerError,
    InternalError,
    IoapError,
    MalformedMessageError,
    MessageType,
    RateLimitedError,
    Refusal,
    Registration,
    RemoteTimeoutError,
    ServerHandshake,
    UnauthorizedError,
    close_reason,
)
from aiconexus_gateway.backend.base import BackendUnavailableError
from aiconexus_gateway.guards.policy_file import refusal_message
from aiconexus_gateway.guards.register_checks import check_register, register_handshake
from aiconexus_gateway.observation.metrics import Metrics
from aiconexus_gateway.transport.asgi import ASGIReceive, ASGISend
from aiconexus_gateway.transport.ws_protocol import SEND_BATCH

from .hub import Hub
from .parts import Parts
from .pipeline import Pipeline
from .replies import Replies
from .router import GUESS_PARSE_LIMIT, Router, guess_id
from .session import Session, SessionState

__all__ = [
    "CLOSE_POLICY",
    "MAX_CLOSE_REASON",
    "ConnectionHandler",
    "close_reason",
]

logger = logging.getLogger("aiconexus.gateway")

CLOSE_POLICY = CloseCode.POLICY_VIOLATION
"""The handshake's close code under its older name (the protocol core's CloseCode)."""
TURN_S = 0.002
"""Longest a connection handles frames before it lets the event loop run others (fair sharing).

uvicorn's ``receive()`` does not yield while frames it already read are queued, so one read of
a flooding peer could otherwise hold the loop for every frame in it. Yielding by time, not
after a number of frames, keeps ACK coalescing (per loop turn) intact for fast frames."""
FAULT_LOG_INTERVAL_S = 10.0
"""At most one log line per this many seconds about frames whose handling failed."""

_FROM_FIELD = re.compile(r'"from"\s*:\s*"(did:key:[A-Za-z0-9]{1,128})"')


def guess_sender(text: str) -> str | None:
    """The string ``from`` of a refused first frame, if it can be read (the ERROR's ``to``)."""
    try:
        if len(text) > GUESS_PARSE_LIMIT:
            raise orjson.JSONDecodeError("not parsed twice", text, 0)
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        found = _FROM_FIELD.search(text)
        return found.group(1) if found else None
    if isinstance(data, dict):
        sender = data.get("from")
        if isinstance(sender, str) and sender:
            return sender
    return None


class _Faults:
    """Unexpected failures while handling frames: counted, logged once per interval."""

    count = 0
    logged_at = -FAULT_LOG_INTERVAL_S

    @classmethod
    def report(cls, metrics: Metrics, session_id: str, exc: BaseException) -> None:
        metrics.internal_errors += 1
        cls.count += 1
        now = time.monotonic()
        if now - cls.logged_at >= FAULT_LOG_INTERVAL_S:
            logger.error(  # the exception's type only: its text may quote the frame
                "handling a frame failed (%d time(s) since the last report), last on "
                "session=%s: %s",
                cls.count,
                session_id,
                type(exc).__name__,
            )
            cls.count = 0
            cls.logged_at = now


class ConnectionHandler:
    """Runs ``/ws`` connections with the node's parts, hub, router and replies."""

    def __init__(self, parts: Parts, hub: Hub, router: Router, replies: Replies) -> None:
        self.parts = parts
        self.settings = parts.settings
        self.metrics = parts.metrics
        self.guards = parts.guards
        self.node = parts.node
        self.hub = hub
        self.router = router
        self.replies = replies

    async def __call__(
        self, scope: MutableMapping[str, Any], receive: ASGIReceive, send: ASGISend
    ) -> None:
        """Run one ``/ws`` connection to its end."""
        event = await receive()
        if event["type"] != "websocket.connect":
            return
        subprotocol = self.settings.gateway_subprotocol
        offered = scope.get("subprotocols") or []
        await send(
            {
                "type": "websocket.accept",
                "subprotocol": subprotocol if subprotocol in offered else None,
            }
        )
        client = scope.get("client")
        peer = f"{client[0]}:{client[1]}" if client else "unknown"
        ip = str(client[0]) if client else "unknown"
        batched = SEND_BATCH in (scope.get("extensions") or {})
        session = self.hub.open(send, peer=peer, address=ip, batched=batched)
        why = self.node.refusal()
        if why is not None:
            await self._refuse_connection(session, send, why)
            return
        ip_limits = self.guards.ip_limits
        problem = ip_limits.ws_opened(ip)
        if problem is not None:
            await self._refuse_connection(session, send, problem)
            return
        self.node.opened()
        self.metrics.connections_total += 1
        logger.info("connect", extra={"peer": peer, "session": session.session_id})
        authenticated = False
        try:
            if await self._handshake(session, receive, send, ip):
                authenticated = True
                ip_limits.ws_authenticated(ip)
                await self._read_frames(session, receive)
        except asyncio.CancelledError:
            if not session.closed:
                raise  # a cancellation we did not ask for
        finally:
            ip_limits.ws_closed(ip, authenticated=authenticated)
            self.node.left()
            reason = session.close_reason
            self.hub.end(session)
            self._log_disconnect(session, reason)

    async def _refuse_connection(self, session: Session, send: ASGISend, why: str) -> None:
        """Refuse a new connection before CHALLENGE: CONNECTION_REFUSED, close 1013 (try later)."""
        error = ConnectionRefusedByPeerError(why)
        self.metrics.rejected[str(error.code)] += 1
        self.guards.refusal_log.note(error.code, why, session=session.session_id, peer=session.peer)
        code = int(CloseCode.TRY_AGAIN_LATER)
        await send({"type": "websocket.close", "code": code, "reason": close_reason(error)})

    @staticmethod
    def _log_disconnect(session: Session, reason: str) -> None:
        """The one line of a connection's end: who, why (reason) and the close code we sent."""
        fields: dict[str, Any] = {"reason": reason if session.did else "not registered"}
        fields.update(did=session.did, session=session.session_id, peer=session.peer)
        if session.close_code is not None:
            fields["code"] = session.close_code
        level = logging.WARNING if reason == "slow consumer" else logging.INFO
        logger.log(level, "disconnected", extra=fields)

    async def _handshake(
        self, session: Session, receive: ASGIReceive, send: ASGISend, ip: str
    ) -> bool:
        """Drive the protocol core's :class:`ServerHandshake`; True once the session is registered.

        CHALLENGE, then one REGISTER checked in full: the core's checks with the gateway's
        limits (:mod:`.register_checks`), then the access policy (if any) and the backend.
        """
        settings = self.settings
        handshake = register_handshake(self.parts.frames, settings)
        await session.send_now(handshake.challenge())
        session.advance(SessionState.CHALLENGE_SENT)
        try:
            async with asyncio.timeout(settings.connection_timeout):
                event = await receive()
        except TimeoutError:
            waited = f"no REGISTER within {settings.connection_timeout:g}s"
            await self._refuse(session, send, handshake.refuse(RemoteTimeoutError(waited)))
            return False
        if event["type"] != "websocket.receive":
            return False
        text = event.get("text")
        if text is None:
            binary = MalformedMessageError("binary frames are not allowed")
            await self._refuse(session, send, handshake.refuse(binary))
            return False
        try:
            registration = self._accept(session, handshake, text, ip=ip)
        except IoapError as exc:
            sender, correlation_id = self._addressee(text, handshake)
            refusal = handshake.refuse(exc, sender=sender, correlation_id=correlation_id)
            await self._refuse(session, send, refusal)
            return False
        session.adopt(registration)
        try:
            await self.hub.register(session, registration.message.id)
        except BackendUnavailableError as exc:
            error = InternalError(f"backend unavailable: {exc}")
            refusal = handshake.refuse(
                error, sender=registration.did, correlation_id=registration.message.id
            )
            await self._refuse(session, send, refusal)
            return False
        return True

    def _accept(
        self, session: Session, handshake: ServerHandshake, text: str, *, ip: str
    ) -> Registration:
        """The registration ``text`` asks for, or the IoapError that refuses it.

        Order: the address's REGISTER budget, the REGISTER's checks, the access policy.
        """
        wait = self.guards.ip_limits.registration_wait_ms(ip)
        if wait:
            why = f"too many REGISTERs from this address; retry after {wait} ms"
            raise RateLimitedError(why, details={"retry_after_ms": wait})
        try:
            registration = check_register(text, handshake=handshake, settings=self.settings)
        except IoapError:
            raise
        except Exception as exc:  # last resort: a bug must not cost more than this connection
            _Faults.report(self.metrics, session.session_id, exc)
            raise InternalError("the REGISTER could not be handled") from None
        policy = self.guards.policy
        if policy is not None:
            rule = policy.refusal(
                registration.did, self.parts.did, registration.capabilities, MessageType.REGISTER
            )
            if rule is not None:
                raise UnauthorizedError(refusal_message(rule), details={"rule": rule})
        return registration

    @staticmethod
    def _addressee(text: str, handshake: ServerHandshake) -> tuple[str | None, str | None]:
        """(sender DID, frame id) an ERROR refusing ``text`` goes to (the accepted REGISTER's)."""
        accepted = handshake.registration
        if accepted is not None:
            return accepted.did, accepted.message.id
        return guess_sender(text), guess_id(text)

    async def _refuse(self, session: Session, send: ASGISend, refusal: Refusal) -> None:
        """The handshake failed: the refusal's ERROR (when it has one), then its close (1008).

        ``to`` is null only on CHALLENGE, so without a sender DID there is no ERROR frame; the
        close reason always carries ``"CODE: message"``.
        """
        error = refusal.error
        self.metrics.rejected[str(error.code)] += 1
        self.guards.refusal_log.note(
            error.code, error.message, session=session.session_id, peer=session.peer
        )
        try:
            if refusal.frame is not None:
                await session.send_now(refusal.frame)
            close = {"type": "websocket.close", "code": int(refusal.code), "reason": refusal.reason}
            await send(close)
        except Exception as exc:  # the peer is already gone
            logger.debug("could not refuse %s: %r", session.session_id, exc)

    async def _read_frames(self, session: Session, receive: ASGIReceive) -> None:
        """Handle frames until the peer disconnects or the hub closes the session.

        With a backend whose replay check is a round trip (``remote_checks``) or signatures
        verified in batches off the loop, frames are handled several at once, in order
        (:mod:`.pipeline`). Otherwise each frame is handled before the next is read.
        """
        pipelined = self.parts.backend.remote_checks or not self.parts.crypto.inline
        limit = self.settings.send_queue_size
        # only a pipelining connection holds one (about 700 bytes with its deque's first block)
        running = Pipeline(lambda: session.refusals.streak) if pipelined else None
        turn = time.perf_counter()
        try:
            while not session.closed:
                if running is not None:
                    await running.make_room()
                if session.queue.answers >= limit:
                    await session.drained()
                if time.perf_counter() - turn > TURN_S:
                    await asyncio.sleep(0)  # receive() does not yield while frames are queued
                    turn = time.perf_counter()
                session.receiving = True
                event = await receive()
                session.receiving = False
                if event["type"] != "websocket.receive":
                    return
                if running is not None:
                    size = len(event.get("text") or event.get("bytes") or "")
                    await running.add(size, partial(self._handle, session, event))
                elif (text := event.get("text")) is not None:
                    try:  # the common case, without a coroutine of its own per frame
                        await self.router.handle(session, text)
                    except Exception as exc:
                        self._fault(session, text, exc)
                else:
                    await self._handle(session, event, None)
            await session.closed_sent()
        finally:
            if running is not None:  # frames already taken are routed before the session goes
                await running.finish()

    async def _handle(
        self,
        session: Session,
        event: MutableMapping[str, Any],
        previous: asyncio.Future[None] | None,
    ) -> None:
        """Handle one received frame; no exception leaves (a bug costs this frame only)."""
        text = event.get("text")
        if text is None:
            frame = event.get("bytes") or b""
            binary = MalformedMessageError("binary frames are not allowed")
            self.replies.reject(session, binary, guess_id(frame))
            return
        try:
            await self.router.handle(session, text, previous)
        except Exception as exc:
            self._fault(session, text, exc)
        finally:
            # A frame that returned early (refused, or a recipient ACK) still ends after the one
            # before it, so the next frame cannot overtake frames still in their replay check.
            if previous is not None and not previous.done():
                await asyncio.wait((previous,))

    def _fault(self, session: Session, text: str, exc: Exception) -> None:
        """Last resort: a frame whose handling failed costs that frame only (INTERNAL_ERROR)."""
        _Faults.report(self.metrics, session.session_id, exc)
        failed = InternalError("the gateway could not handle this frame")
        self.replies.reject(session, failed, guess_id(text))
