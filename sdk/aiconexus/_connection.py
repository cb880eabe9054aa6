"""The connection a GatewayClient owns: supervise, read, heartbeat, reconnect, resend.

One supervisor task owns the sessions. For each session it starts a reader and a heartbeat, has
the :class:`~aiconexus._writer.Writer` write every unacknowledged frame again (oldest first),
then waits for the session to end and, when its
:class:`~aiconexus._session_policy.SessionPolicy` agrees, opens the next one with backoff
through the :class:`~aiconexus._dialer.Dialer`. Every frame read goes through the
:class:`~aiconexus._dispatch.Dispatcher` (checks, then routing); the connection does what the
returned ``Outcome`` leaves to do, through the object that owns what it concerns: the writer
(sends answered by the gateway), the :class:`~aiconexus._intake.Intake` (frames from other
agents: inbox, duplicate memory, recipient acknowledgements), the log (drops and reports).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from websockets.exceptions import ConnectionClosed

from aiconexus._dialer import Dialer
from aiconexus._dispatch import Action, Dispatcher
from aiconexus._intake import Intake
from aiconexus._pending import DeliveryStatus, ReplyWaiters
from aiconexus._session import Session, SessionOptions
from aiconexus._session_policy import SessionPolicy
from aiconexus._writer import Writer, check_outgoing, resign_after_s
from aiconexus.errors import ClientClosedError, SessionReplacedError
from aiconexus.protocol import CloseCode, Identity, Message, MessageType
from aiconexus.state import ConnectionState

__all__ = ["STABLE_SESSION_S", "UNREGISTER_WAIT_S", "Connection"]

UNREGISTER_WAIT_S = 2.0
"""Longest wait for UNREGISTER to be written, then for the gateway's close that answers it."""

STABLE_SESSION_S = 10.0
"""A session that lasted this long resets the backoff; shorter ones keep it growing."""


class Connection:
    """The sessions of one client, one after the other, and the frames that cross them.

    Sessions are opened to the gateway ``urls`` with ``options`` by a
    :class:`~aiconexus._dialer.Dialer` (which raises ValueError for a bad URL or pinned DID).
    Collaborators, passed in: the ``intake`` takes in the frames of other agents,
    ``replies`` holds the ``request()`` and ``ping(to)`` calls awaiting another agent,
    ``on_state`` hears every state change. The connection makes the rest: the
    :class:`~aiconexus._writer.Writer` (owner of the outbox), the PINGs awaiting the
    gateway, the :class:`~aiconexus._dispatch.Dispatcher`. When it closes for good, every
    send, PING and reply still awaited fails, and readers drain the inbox.
    """

    def __init__(
        self,
        identity: Identity,
        urls: Sequence[str],
        options: SessionOptions,
        intake: Intake,
        replies: ReplyWaiters,
        *,
        policy: SessionPolicy,
        on_state: Callable[[ConnectionState], None],
        logger: logging.Logger,
    ) -> None:
        self._identity = identity
        self._dialer = Dialer(
            urls,
            identity,
            options,
            retry_policy=policy.retry_policy,
            retry_on_start=policy.retry_on_start,
            logger=logger,
        )
        self._intake = intake
        self._replies = replies
        self._policy = policy
        self._on_state = on_state
        self._logger = logger
        skew_s = options.clock_skew_s
        self._writer = Writer(identity, resign_after_s=resign_after_s(skew_s))
        self._pongs = ReplyWaiters()
        self._dispatcher = Dispatcher(
            intake.checks,
            sends=self._writer,
            replies=replies,
            pongs=self._pongs,
            keys=identity,
            hold_when_rate_limited=policy.on_rate_limited == "hold",
        )
        self._state = ConnectionState.CLOSED
        self._started = False
        self._closing = False
        self._close_reason: BaseException | None = None
        self.last_session: Session | None = None
        """The current or last session (None before the first)."""
        self._supervisor: asyncio.Task[None] | None = None

    @property
    def state(self) -> ConnectionState:
        """The current :class:`~aiconexus.ConnectionState`."""
        return self._state

    @property
    def session(self) -> Session | None:
        """The current session (None while not registered)."""
        return self._writer.session

    @property
    def session_id(self) -> str | None:
        """The gateway's id for the current session (None while not registered)."""
        session = self._writer.session
        return session.session_id if session else None

    @property
    def url(self) -> str:
        """The gateway URL of the current (or last, or first configured) session."""
        session = self.last_session
        return session.url if session else self._dialer.urls[0]

    @property
    def gateway_did(self) -> str | None:
        """The gateway DID of the current (or last) session, else the pinned one (if any)."""
        session = self.last_session
        return session.gateway_did if session else self._dialer.options.pinned_gateway_did

    @property
    def unacknowledged(self) -> int:
        """How many sent frames still await the gateway's ACK."""
        return self._writer.unacknowledged

    @property
    def started(self) -> bool:
        """True once :meth:`connect` was called."""
        return self._started

    # -- lifecycle ---------------------------------------------------------------------------
    async def connect(self) -> None:
        """Open the first session and start supervising; return once registered."""
        if self._started:
            raise ClientClosedError("a GatewayClient can be connected only once")
        self._started = True
        self._intake.open()
        self._set_state(ConnectionState.CONNECTING)
        try:
            session = await self._dialer.open(self._policy.backoff.delays(), first=True)
        except BaseException as exc:
            self._finish(exc)
            raise
        self._supervisor = asyncio.create_task(self._supervise(session), name="aiconexus-client")
        online = asyncio.create_task(self._writer.online.wait())
        await asyncio.wait({self._supervisor, online}, return_when=asyncio.FIRST_COMPLETED)
        online.cancel()
        if not self._writer.online.is_set():
            raise self.closed_error()

    async def close(self) -> None:
        """Unregister, stop the supervisor and fail everything still pending."""
        if self._closing:
            if self._supervisor is not None:
                await asyncio.gather(self._supervisor, return_exceptions=True)
            return
        self._closing = True
        session = self.session
        await self._intake.flush()
        if session is not None and self._writer.online.is_set():
            bye = Message.create(self._identity, MessageType.UNREGISTER, session.gateway_did, {})
            try:
                async with asyncio.timeout(UNREGISTER_WAIT_S):
                    await self._writer.send(session, bye)
            except (ConnectionClosed, TimeoutError):
                pass
            else:
                # PROTOCOL.md 7.4: the gateway answers UNREGISTER by closing (1000
                # "unregistered"); closing first could cut the UNREGISTER off unread.
                if self._supervisor is not None:
                    await asyncio.wait({self._supervisor}, timeout=UNREGISTER_WAIT_S)
        self._writer.stop()
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
        self._finish(ClientClosedError("the client was closed"))

    async def wait_closed(self) -> BaseException | None:
        """Wait until closed; return why (None after :meth:`close`).

        Cancelling the wait leaves the session alone (``asyncio.wait``, not ``gather``, which
        would cancel the supervisor too and close the socket before :meth:`close` could send
        UNREGISTER).
        """
        if self._supervisor is not None:
            await asyncio.wait({self._supervisor})
        reason = self._close_reason
        return None if type(reason) is ClientClosedError else reason

    # -- supervision -------------------------------------------------------------------------
    async def _supervise(self, session: Session) -> None:
        delays = self._policy.backoff.delays()
        try:
            while True:
                started = asyncio.get_running_loop().time()
                reason = await self._serve(session)
                if self._closing:
                    return
                if asyncio.get_running_loop().time() - started >= STABLE_SESSION_S:
                    delays = self._policy.backoff.delays()
                if not self._policy.reconnect or not self._policy.retry_policy(reason):
                    self._finish(reason)
                    return
                self._logger.warning(
                    "connection to %s lost (%s); reconnecting", session.url, reason
                )
                self._set_state(ConnectionState.RECONNECTING)
                session = await self._dialer.open(delays, first=False)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self._logger.error("giving up on the gateway: %s", exc)
            self._finish(exc)

    async def _serve(self, session: Session) -> BaseException:
        self._writer.begin(session)
        self.last_session = session
        self._intake.begin(session)
        reader = asyncio.create_task(self._read(session))
        heartbeat = asyncio.create_task(self._heartbeat(session))
        try:
            try:
                await self._writer.flush(session)
            except ConnectionClosed:
                pass
            else:
                self._set_state(ConnectionState.CONNECTED)
                self._logger.info("registered at %s (%s)", session.url, session.gateway_did)
            done, _ = await asyncio.wait({reader, heartbeat}, return_when=asyncio.FIRST_COMPLETED)
            return reader.result() if reader in done else heartbeat.result()
        finally:
            self._writer.end()
            reader.cancel()
            heartbeat.cancel()
            await asyncio.gather(reader, heartbeat, return_exceptions=True)
            await self._intake.end()
            await session.connection.close()

    # -- sending -----------------------------------------------------------------------------
    async def send(self, message: Message) -> DeliveryStatus:
        """Send ``message`` and return the status of the gateway's ACK.

        It is written now if a session is up and not on hold, else by the next one, and
        again on each new session until the gateway answers; cancelling the wait withdraws
        it. Raises what :func:`~aiconexus._writer.check_outgoing` raises before any write,
        and the error the gateway answers with.
        """
        check_outgoing(message, self._dialer.options.max_message_size)
        entry = self._writer.add(message)
        try:
            await self._writer.write(entry)
            return await entry.future
        finally:
            self._writer.withdraw(message.id)

    # -- reading -----------------------------------------------------------------------------
    async def _read(self, session: Session) -> BaseException:
        connection = session.connection
        while True:
            try:
                frame = await connection.recv()
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd is not None else None
                if code == CloseCode.REPLACED:
                    replaced = SessionReplacedError(
                        "another connection registered this DID; this one was closed"
                    )
                    replaced.__cause__ = exc
                    return replaced
                if code == CloseCode.MESSAGE_TOO_BIG and exc.rcvd is not None:
                    self._writer.fail_largest_written(exc.rcvd.reason)
                return exc
            self._on_frame(frame, session)

    def _on_frame(self, frame: str | bytes, session: Session) -> None:
        outcome = self._dispatcher.check(
            frame, session.gateway_did, datetime.now(UTC), time.monotonic()
        )
        if outcome.action is Action.VERIFIED and outcome.message is not None:
            outcome = self._dispatcher.route(outcome.message, session.gateway_did)
        match outcome.action:
            case Action.DROP if outcome.message is None:
                self._logger.warning("dropped %s from %s", outcome.detail, session.url)
            case Action.DROP:
                self._logger.warning("dropped %s", outcome.detail)
            case Action.UNCERTAIN:
                self._logger.debug("%s; writing it again in %gs", outcome.detail, outcome.hold_s)
            case Action.REPORTED:
                self._logger.warning("the gateway reported %s", outcome.detail)
        self._writer.on_answer(outcome)  # the gateway's answer to sends, if it is one
        self._intake.take_in(outcome)  # a frame from another agent, if it is one

    # -- heartbeat ---------------------------------------------------------------------------
    async def _heartbeat(self, session: Session) -> BaseException:
        interval = self._policy.heartbeat_interval_s or session.heartbeat_interval_s
        sequence = 0
        while True:
            await asyncio.sleep(interval)
            sequence += 1
            try:
                async with asyncio.timeout(interval):
                    await self._ping(session, sequence)
            except TimeoutError:
                self._logger.warning("no PONG from %s within %gs", session.url, interval)
                session.connection.transport.abort()
                return TimeoutError("the gateway stopped answering PING")
            except ConnectionClosed as exc:
                return exc

    async def ping(self) -> None:
        """PING the gateway once a session is up; return when its PONG arrives."""
        while True:
            self.check_open()
            await self._writer.online.wait()
            if self.session is not None:
                return await self._ping(self.session, None)

    async def _ping(self, session: Session, sequence: int | None) -> None:
        payload = {} if sequence is None else {"sequence": sequence}
        ping = Message.create(self._identity, MessageType.PING, session.gateway_did, payload)
        pong = self._pongs.expect(ping.id, session.gateway_did, {MessageType.PONG})
        try:
            await self._writer.send(session, ping)
            await pong
        finally:
            self._pongs.cancel(ping.id)

    # -- state -------------------------------------------------------------------------------
    def check_open(self) -> None:
        """Raise :class:`~aiconexus.ClientClosedError` unless connected or reconnecting."""
        if not self._started or self._closing or self._state is ConnectionState.CLOSED:
            raise self.closed_error()

    def closed_error(self) -> ClientClosedError:
        """The error that operations on a closed (or never opened) client raise."""
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
        self._writer.stop()
        error = self.closed_error()
        self._writer.fail_all(error)
        self._pongs.fail_all(error)
        self._replies.fail_all(error)
        self._intake.close()
        self._set_state(ConnectionState.CLOSED)

    def _set_state(self, state: ConnectionState) -> None:
        if state is not self._state:
            self._state = state
            self._on_state(state)
