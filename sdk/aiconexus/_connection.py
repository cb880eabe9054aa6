"""The connection half of GatewayClient: connect, supervise, read, heartbeat, reconnect, resend.

One supervisor task owns the sessions. For each session it starts a reader and a heartbeat,
writes every unacknowledged frame again (oldest first), then waits for the session to end and
opens the next one with backoff, rotating through the configured URLs. When the gateway
confirmed recipient acknowledgements, frames from other agents are acknowledged as they are
taken in (see :mod:`aiconexus._receipts`).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from websockets.exceptions import ConnectionClosed, WebSocketException

from aiconexus._inbound import InboundFilter
from aiconexus._pending import Outbox, OutboxEntry, ReplyWaiters
from aiconexus._receipts import Receipts
from aiconexus._session import Session, SessionOptions, open_session
from aiconexus.backoff import Backoff
from aiconexus.errors import (
    ClientClosedError,
    ClientError,
    GatewayAuthenticationError,
    GatewayUnreachableError,
    SessionReplacedError,
)
from aiconexus.protocol import (
    ErrorCode,
    Identity,
    IoapError,
    Message,
    MessageTooLargeError,
    MessageType,
    error_from_code,
)
from aiconexus.state import ConnectionState, StateListener

__all__ = ["ConnectionMixin", "is_retryable", "retry_after_s"]

RETRYABLE_CODES = frozenset(
    {
        ErrorCode.INTERNAL_ERROR,
        ErrorCode.RATE_LIMITED,
        ErrorCode.TIMEOUT,
        ErrorCode.CONNECTION_REFUSED,
    }
)
"""Codes of a refused REGISTER that are worth another try later."""

STABLE_SESSION_S = 10.0
"""A session that lasted this long resets the backoff; shorter ones keep it growing."""

REPLACED_CLOSE_CODE = 4000
TOO_BIG_CLOSE_CODE = 1009
DEFAULT_RETRY_AFTER_S = 1.0
"""How long to hold sends after RATE_LIMITED when the ERROR names no ``retry_after_ms``."""
MAX_RETRY_AFTER_S = 60.0
"""Longest hold after RATE_LIMITED, whatever the ERROR says."""


def retry_after_s(error: IoapError) -> float:
    """Seconds to wait before sending again after a RATE_LIMITED ``error``."""
    details = error.details
    value = details.get("retry_after_ms") if isinstance(details, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return min(float(value) / 1000.0, MAX_RETRY_AFTER_S)
    return DEFAULT_RETRY_AFTER_S


def is_retryable(error: BaseException) -> bool:
    """Whether connecting again may help after ``error`` (network trouble: yes; refusal: no)."""
    if isinstance(error, IoapError):
        return error.code in RETRYABLE_CODES
    if isinstance(error, SessionReplacedError):
        return False
    return isinstance(error, OSError | TimeoutError | WebSocketException | ClientError)


class ConnectionMixin:
    """Session management for :class:`~aiconexus.GatewayClient` (see that class)."""

    _urls: list[str]
    _identity: Identity
    _options: SessionOptions
    _reconnect: bool
    _backoff: Backoff
    _retry_on_start: bool
    _heartbeat_interval_s: float | None
    _resign_after_s: float
    _logger: logging.Logger
    _listeners: list[StateListener]
    _filter: InboundFilter
    _outbox: Outbox
    _replies: ReplyWaiters
    _gateway_replies: ReplyWaiters
    _inbox: asyncio.Queue[Message | None]
    _write_lock: asyncio.Lock
    _online: asyncio.Event
    _state: ConnectionState
    _started: bool
    _closing: bool
    _close_reason: BaseException | None
    _session: Session | None
    _last_session: Session | None
    _receipts: Receipts | None
    _connection_number: int
    _url_index: int
    _supervisor: asyncio.Task[None] | None
    _callback_tasks: set[asyncio.Task[None]]
    _resume_at: float = 0.0
    """Loop time before which nothing is written (the gateway answered RATE_LIMITED)."""
    _resender: asyncio.Task[None] | None = None

    # -- public lifecycle --------------------------------------------------------------------
    async def connect(self) -> None:
        """Open the first session; return once registered.

        Raises :class:`~aiconexus.GatewayUnreachableError` when no URL answers (unless
        ``retry_on_start``), or the protocol error when the gateway refuses the REGISTER.
        """
        if self._started:
            raise ClientClosedError("a GatewayClient can be connected only once")
        self._started = True
        self._set_state(ConnectionState.CONNECTING)
        try:
            session = await self._open_any(self._backoff.delays(), first=True)
        except BaseException as exc:
            self._finish(exc)
            raise
        self._supervisor = asyncio.create_task(self._supervise(session), name="aiconexus-client")
        online = asyncio.create_task(self._online.wait())
        await asyncio.wait({self._supervisor, online}, return_when=asyncio.FIRST_COMPLETED)
        online.cancel()
        if not self._online.is_set():
            raise self._closed_error()

    async def close(self) -> None:
        """Unregister and close; pending sends fail with :class:`~aiconexus.ClientClosedError`.

        Messages already received stay readable with :meth:`recv` until drained.
        """
        if self._closing:
            if self._supervisor is not None:
                await asyncio.gather(self._supervisor, return_exceptions=True)
            return
        self._closing = True
        session = self._session
        if session is not None and self._online.is_set():
            bye = Message.create(self._identity, MessageType.UNREGISTER, session.gateway_did, {})
            try:
                async with asyncio.timeout(2.0), self._write_lock:
                    await session.connection.send(bye.to_json())
            except (ConnectionClosed, TimeoutError):
                pass
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
        self._finish(ClientClosedError("the client was closed"))

    # -- supervision -------------------------------------------------------------------------
    async def _supervise(self, session: Session) -> None:
        delays = self._backoff.delays()
        try:
            while True:
                started = asyncio.get_running_loop().time()
                reason = await self._serve(session)
                if self._closing:
                    return
                if asyncio.get_running_loop().time() - started >= STABLE_SESSION_S:
                    delays = self._backoff.delays()
                if not self._reconnect or not is_retryable(reason):
                    self._finish(reason)
                    return
                self._logger.warning(
                    "connection to %s lost (%s); reconnecting", session.url, reason
                )
                self._set_state(ConnectionState.RECONNECTING)
                session = await self._open_any(delays, first=False)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self._logger.error("giving up on the gateway: %s", exc)
            self._finish(exc)

    async def _open_any(self, delays: Iterator[float], *, first: bool) -> Session:
        failures: list[tuple[str, BaseException]] = []
        while True:
            if not first:
                await asyncio.sleep(next(delays))
            for offset in range(len(self._urls)):
                index = (self._url_index + offset) % len(self._urls)
                url = self._urls[index]
                try:
                    session = await open_session(url, self._identity, self._options, self._logger)
                except Exception as exc:
                    if not is_retryable(exc):
                        raise
                    failures.append((url, exc))
                    self._logger.warning("cannot connect to %s: %s", url, exc)
                    continue
                self._url_index = index
                return session
            if first and not self._retry_on_start:
                for _, failure in failures:
                    if isinstance(failure, GatewayAuthenticationError):
                        raise failure
                raise GatewayUnreachableError(failures)
            first = False
            failures.clear()

    async def _serve(self, session: Session) -> BaseException:
        self._connection_number += 1
        self._session = self._last_session = session
        self._receipts = Receipts(session, self._identity) if session.recipient_acks else None
        reader = asyncio.create_task(self._read(session))
        heartbeat = asyncio.create_task(self._heartbeat(session))
        try:
            try:
                await self._flush(session)
            except ConnectionClosed:
                pass
            else:
                self._set_state(ConnectionState.CONNECTED)
                self._logger.info("registered at %s (%s)", session.url, session.gateway_did)
            done, _ = await asyncio.wait({reader, heartbeat}, return_when=asyncio.FIRST_COMPLETED)
            return reader.result() if reader in done else heartbeat.result()
        finally:
            self._online.clear()
            self._session = None
            reader.cancel()
            heartbeat.cancel()
            await asyncio.gather(reader, heartbeat, return_exceptions=True)
            if self._receipts is not None:
                await self._receipts.close()
                self._receipts = None
            await session.connection.close()

    # -- writing -----------------------------------------------------------------------------
    async def _flush(self, session: Session) -> None:
        """Write every frame not yet written on this connection, oldest first; go online."""
        async with self._write_lock:
            while True:
                todo = [
                    e for e in self._outbox.entries() if e.written_on != self._connection_number
                ]
                if not todo:
                    break
                for entry in todo:
                    if entry.message.id in self._outbox:
                        await self._write(session, entry)
            self._online.set()

    async def _write_if_online(self, entry: OutboxEntry) -> None:
        async with self._write_lock:
            session = self._session
            if (
                session is None
                or not self._online.is_set()
                or asyncio.get_running_loop().time() < self._resume_at
                or entry.written_on == self._connection_number
                or entry.message.id not in self._outbox
            ):
                return
            # On a closed connection the reader notices; the frame is written again later.
            with contextlib.suppress(ConnectionClosed):
                await self._write(session, entry)

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
        entry.written_on = self._connection_number
        await session.connection.send(message.to_json())

    # -- reading -----------------------------------------------------------------------------
    async def _read(self, session: Session) -> BaseException:
        connection = session.connection
        while True:
            try:
                frame = await connection.recv()
            except ConnectionClosed as exc:
                if exc.rcvd is not None and exc.rcvd.code == REPLACED_CLOSE_CODE:
                    return SessionReplacedError(
                        "another connection registered this DID; this one was closed"
                    )
                if exc.rcvd is not None and exc.rcvd.code == TOO_BIG_CLOSE_CODE:
                    self._fail_largest_written(exc.rcvd.reason)
                return exc
            self._handle(frame, session)

    def _handle(self, frame: str | bytes, session: Session) -> None:
        if not isinstance(frame, str):
            self._logger.warning("dropped a binary frame from %s", session.url)
            return
        try:
            message = Message.parse(frame)
        except IoapError as exc:
            self._logger.warning("dropped a malformed frame from %s: %s", session.url, exc)
            return
        now = datetime.now(UTC)
        problem = self._filter.check(message, session.gateway_did, now, time.monotonic())
        from_gateway = message.from_ == session.gateway_did
        if problem is not None:
            self._logger.warning(
                "dropped %s %s from %s: %s", message.type, message.id, message.from_, problem
            )
        elif from_gateway:
            self._handle_gateway(message)
        elif not self._replies.resolve(message):
            self._inbox.put_nowait(message)
        if not from_gateway and self._receipts is not None:
            self._receipts.note(message.id)  # taken in (or dropped for good): acknowledge

    def _handle_gateway(self, message: Message) -> None:
        payload = message.payload
        if message.type == MessageType.ACK and payload["status"] != "received":
            for message_id in payload["ids"]:
                self._outbox.acknowledge(message_id, payload["status"])
        elif message.type == MessageType.ERROR:
            error = error_from_code(payload["code"], payload["message"], payload.get("details"))
            answered = message.correlation_id
            entry = self._outbox.get(answered) if answered else None
            if entry is not None and answered is not None:
                if error.code == ErrorCode.REPLAY_DETECTED and entry.attempts > 1:
                    # Accepted on an earlier connection whose ACK was lost.
                    self._outbox.acknowledge(answered, "queued")
                elif error.code == ErrorCode.RATE_LIMITED:
                    self._hold(entry, retry_after_s(error))
                else:
                    self._outbox.reject(answered, error)
            elif not (answered and self._gateway_replies.fail(answered, error)):
                self._logger.warning("the gateway reported %s", error)
        elif message.type == MessageType.PONG:
            self._gateway_replies.resolve(message)

    # -- refusals that are not the frame's fault or that a re-send cannot mend --------------
    def _hold(self, entry: OutboxEntry, delay_s: float) -> None:
        """RATE_LIMITED: write nothing for ``delay_s``, then ``entry`` and those after it again.

        Frames written after ``entry`` on this connection were probably refused too (some
        without an ERROR); one that was accepted after all is answered REPLAY_DETECTED on
        the re-send, which counts as its ACK.
        """
        loop = asyncio.get_running_loop()
        self._resume_at = max(self._resume_at, loop.time() + delay_s)
        later = False
        for candidate in self._outbox.entries():
            later = later or candidate is entry
            if later and candidate.written_on == self._connection_number:
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
        session = self._session
        if session is None or not self._online.is_set() or self._closing:
            return  # the next session writes everything pending anyway
        with contextlib.suppress(ConnectionClosed):
            await self._flush(session)

    def _fail_largest_written(self, reason: str) -> None:
        """Close 1009: the largest frame written on this connection was too big; fail it.

        (Re-sending it after a reconnection would only close the next connection too.)
        """
        written = [e for e in self._outbox.entries() if e.written_on == self._connection_number]
        if not written:
            return
        largest = max(written, key=lambda e: len(e.message.to_json()))
        message = f"the gateway closed the connection (1009 {reason or 'message too big'})"
        self._outbox.reject(largest.message.id, MessageTooLargeError(message))

    # -- heartbeat ---------------------------------------------------------------------------
    async def _heartbeat(self, session: Session) -> BaseException:
        interval = self._heartbeat_interval_s or session.heartbeat_interval_s
        sequence = 0
        while True:
            await asyncio.sleep(interval)
            sequence += 1
            try:
                async with asyncio.timeout(interval):
                    await self._ping_gateway(session, sequence)
            except TimeoutError:
                self._logger.warning("no PONG from %s within %gs", session.url, interval)
                session.connection.transport.abort()
                return TimeoutError("the gateway stopped answering PING")
            except ConnectionClosed as exc:
                return exc

    async def _ping_gateway(self, session: Session, sequence: int | None) -> None:
        payload = {} if sequence is None else {"sequence": sequence}
        ping = Message.create(self._identity, MessageType.PING, session.gateway_did, payload)
        pong = self._gateway_replies.expect(ping.id, session.gateway_did, {MessageType.PONG})
        try:
            async with self._write_lock:
                await session.connection.send(ping.to_json())
            await pong
        finally:
            self._gateway_replies.cancel(ping.id)

    async def _wait_online(self) -> Session:
        while True:
            self._check_open()
            await self._online.wait()
            if self._session is not None:
                return self._session

    # -- state -------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if not self._started or self._closing or self._state is ConnectionState.CLOSED:
            raise self._closed_error()

    def _closed_error(self) -> ClientClosedError:
        reason = self._close_reason
        if isinstance(reason, ClientClosedError):
            return reason
        if not self._started:
            return ClientClosedError("the client is not connected; use `async with` or connect()")
        error = ClientClosedError(f"the client is closed ({reason})" if reason else "closed")
        error.__cause__ = reason
        return error

    def _finish(self, reason: BaseException) -> None:
        if self._state is ConnectionState.CLOSED and self._closing:
            return
        self._closing = True
        if self._close_reason is None:
            self._close_reason = reason
        self._online.clear()
        if self._resender is not None:
            self._resender.cancel()
        error = self._closed_error()
        self._outbox.reject_all(error)
        self._replies.fail_all(error)
        self._gateway_replies.fail_all(error)
        self._inbox.put_nowait(None)
        self._set_state(ConnectionState.CLOSED)

    def _set_state(self, state: ConnectionState) -> None:
        if state is self._state:
            return
        self._state = state
        for listener in list(self._listeners):
            try:
                result: Any = listener(state)
                if inspect.isawaitable(result):
                    task = asyncio.ensure_future(result)
                    self._callback_tasks.add(task)
                    task.add_done_callback(self._callback_tasks.discard)
            except Exception:
                self._logger.exception("state listener %r failed", listener)
