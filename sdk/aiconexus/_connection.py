"""The connection a GatewayClient owns: supervise, read, heartbeat, reconnect, resend.

One supervisor task owns the sessions. For each session it starts a reader and a heartbeat,
has the :class:`~aiconexus._writer.Writer` write every unacknowledged frame again (oldest
first), then waits for the session to end and, when the retry policy agrees, opens the next
one with backoff through the :class:`~aiconexus._dialer.Dialer`. Every frame read goes through
the :class:`~aiconexus._dispatch.Dispatcher` (check, then :meth:`Connection._take_in`); the
connection does what the returned ``Outcome`` leaves to do. When the gateway confirmed
recipient acknowledgements, frames from other agents are acknowledged as they are taken in
(see :mod:`aiconexus._receipts`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from websockets.exceptions import ConnectionClosed

from aiconexus._dialer import Dialer
from aiconexus._dispatch import Action, Dispatcher, Outcome
from aiconexus._inbox import Inbox
from aiconexus._pending import Outbox, OutboxEntry, ReplyWaiters
from aiconexus._receipts import Receipts
from aiconexus._received_log import ReceivedLog
from aiconexus._session import Session
from aiconexus._writer import Writer
from aiconexus.backoff import Backoff
from aiconexus.errors import ClientClosedError, SessionReplacedError
from aiconexus.protocol import CloseCode, Identity, Message, MessageType
from aiconexus.retry import RetryPolicy
from aiconexus.state import ConnectionState

__all__ = ["DEFAULT_ACK_WITHIN_S", "STABLE_SESSION_S", "UNREGISTER_WAIT_S", "Connection"]

UNREGISTER_WAIT_S = 2.0
"""Longest wait for UNREGISTER to be written, then for the gateway's close that answers it."""

STABLE_SESSION_S = 10.0
"""A session that lasted this long resets the backoff; shorter ones keep it growing."""
DEFAULT_ACK_WITHIN_S = 10.0
"""With ``ack_on_take``: a frame left in the inbox this long is acknowledged anyway (well
below the gateway's default ``ACK_TIMEOUT`` of 30 s, past which it closes a recipient that
leaves a frame unacknowledged as a slow consumer)."""


class Connection:
    """The sessions of one client, one after the other, and the frames that cross them.

    Collaborators, all passed in: the ``dialer`` opens sessions, the ``dispatcher`` decides
    about inbound frames, the ``outbox`` holds the sends awaiting an ACK (the connection's
    writer writes it on each new session), ``pongs`` the PINGs awaiting the gateway;
    the ``inbox`` keeps frames for the readers, ``on_state`` hears every state change and
    ``on_close`` the final error, once. A frame is acknowledged to the gateway (and written
    to the duplicate ``memory``, if any) when it is put in the inbox, or with
    ``ack_on_take`` only when a reader takes it (:meth:`taken`) or when it has waited
    ``ack_within_s`` in the inbox, whichever comes first. Raises ValueError when
    ``heartbeat_interval_s`` (None: the gateway's) or ``ack_within_s`` is not positive.
    """

    def __init__(
        self,
        identity: Identity,
        dialer: Dialer,
        dispatcher: Dispatcher,
        *,
        outbox: Outbox,
        pongs: ReplyWaiters,
        inbox: Inbox,
        ack_on_take: bool = False,
        ack_within_s: float = DEFAULT_ACK_WITHIN_S,
        memory: ReceivedLog | None = None,
        on_state: Callable[[ConnectionState], None],
        on_close: Callable[[ClientClosedError], None],
        reconnect: bool,
        backoff: Backoff,
        retry_policy: RetryPolicy,
        heartbeat_interval_s: float | None,
        resign_after_s: float,
        logger: logging.Logger,
    ) -> None:
        if heartbeat_interval_s is not None and heartbeat_interval_s <= 0:
            raise ValueError("heartbeat_interval_s must be > 0")
        if not ack_within_s > 0:
            raise ValueError("ack_within_s must be > 0")
        self._identity = identity
        self._dialer = dialer
        self._dispatcher = dispatcher
        self._outbox = outbox
        self._pongs = pongs
        self._inbox = inbox
        self._ack_on_take = ack_on_take
        self._ack_within_s = ack_within_s
        self._acked_early: set[tuple[str, str]] = set()
        """Frames in the inbox acknowledged on this session before a reader took them."""
        self._memory = memory
        self._warned_full = False
        self._on_state = on_state
        self._on_close = on_close
        self._reconnect = reconnect
        self._backoff = backoff
        self._retry_policy = retry_policy
        self._heartbeat_interval_s = heartbeat_interval_s
        self._logger = logger
        self._writer = Writer(identity, outbox, resign_after_s=resign_after_s)
        self._state = ConnectionState.CLOSED
        self._started = False
        self._closing = False
        self._close_reason: BaseException | None = None
        self.last_session: Session | None = None
        """The current or last session (None before the first)."""
        self._receipts: Receipts | None = None
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
    def started(self) -> bool:
        """True once :meth:`connect` was called."""
        return self._started

    # -- lifecycle ---------------------------------------------------------------------------
    async def connect(self) -> None:
        """Open the first session and start supervising; return once registered."""
        if self._started:
            raise ClientClosedError("a GatewayClient can be connected only once")
        self._started = True
        self._set_state(ConnectionState.CONNECTING)
        try:
            session = await self._dialer.open(self._backoff.delays(), first=True)
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
        if self._receipts is not None:
            with contextlib.suppress(ConnectionClosed, TimeoutError):
                async with asyncio.timeout(2.0):
                    await self._receipts.flush()
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
        delays = self._backoff.delays()
        try:
            while True:
                started = asyncio.get_running_loop().time()
                reason = await self._serve(session)
                if self._closing:
                    return
                if asyncio.get_running_loop().time() - started >= STABLE_SESSION_S:
                    delays = self._backoff.delays()
                if not self._reconnect or not self._retry_policy(reason):
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
        self._receipts = Receipts(session, self._identity) if session.recipient_acks else None
        self._acked_early.clear()
        reader = asyncio.create_task(self._read(session))
        heartbeat = asyncio.create_task(self._heartbeat(session))
        overdue = asyncio.create_task(self._ack_overdue(self._receipts))
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
            overdue.cancel()
            await asyncio.gather(reader, heartbeat, overdue, return_exceptions=True)
            if self._receipts is not None:
                await self._receipts.close()
                self._receipts = None
            await session.connection.close()

    async def write(self, entry: OutboxEntry) -> None:
        """Write ``entry`` now if a session is up and not on hold; else the next one writes it."""
        await self._writer.write(entry)

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
            outcome = self._take_in(outcome.message, session)
        message = outcome.message
        match outcome.action:
            case Action.DROP if message is None:
                self._logger.warning("dropped %s from %s", outcome.detail, session.url)
            case Action.DROP if message is not None:
                self._logger.warning("dropped %s", outcome.detail)
                if self._inbox.holds(message.from_, message.id):
                    return  # a copy of a frame still waiting: acknowledged when taken
            case Action.DELIVER if message is not None:
                if not self._inbox.put(message):
                    self._refuse(message)
                    return
                if self._ack_on_take:
                    return
                self._remember(message)
            case Action.REPLY if message is not None:
                self._remember(message)
            case Action.RATE_LIMITED if outcome.entry is not None:
                self._writer.hold(outcome.entry, outcome.hold_s)
            case Action.UNCERTAIN if outcome.entry is not None:
                self._logger.debug("%s; writing it again in %gs", outcome.detail, outcome.hold_s)
                self._writer.hold(outcome.entry, outcome.hold_s)
            case Action.SETTLED | Action.ACCEPTED:
                self._writer.answered(outcome.answered)
            case Action.REPORTED:
                self._logger.warning("the gateway reported %s", outcome.detail)
        if outcome.receipt is not None and self._receipts is not None:
            self._receipts.note(outcome.receipt)  # taken in (or dropped for good): acknowledge

    def _refuse(self, message: Message) -> None:
        """The inbox is full: neither keep nor acknowledge ``message``; its copy is wanted."""
        self._dispatcher.inbound.forget(message.from_, message.id)
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

    def taken(self, message: Message) -> None:
        """A reader took ``message`` from the inbox: acknowledge it now if not done already."""
        self._warned_full = False
        if not self._ack_on_take:
            return
        key = (message.from_, message.id)
        if key in self._acked_early:
            self._acked_early.discard(key)
            return
        self._remember(message)
        if self._receipts is not None:
            self._receipts.note(message.id)
        # Between sessions: the gateway delivers it again; the copy is dropped and acknowledged.

    async def _ack_overdue(self, receipts: Receipts | None) -> None:
        """With ``ack_on_take``: acknowledge frames that waited ``ack_within_s`` untaken.

        They stay in the inbox for a reader; the gateway would otherwise close the session
        as a slow consumer and deliver them again, over and over while the reader is busy.
        """
        if receipts is None or not self._ack_on_take:
            return
        while True:
            await asyncio.sleep(self._ack_within_s / 4)
            for message in self._inbox.arrived_before(time.monotonic() - self._ack_within_s):
                key = (message.from_, message.id)
                if key not in self._acked_early:
                    self._acked_early.add(key)
                    self._remember(message)
                    receipts.note(message.id)

    def _take_in(self, message: Message, session: Session) -> Outcome:
        """Take in a verified inbound frame: settle what it answers or route it to ``recv()``.

        Every frame that passed the checks goes through here once, before anything acts on
        it: the place for a transformation of what other agents send (e.g. decryption).
        """
        return self._dispatcher.route(message, session.gateway_did)

    # -- heartbeat ---------------------------------------------------------------------------
    async def _heartbeat(self, session: Session) -> BaseException:
        interval = self._heartbeat_interval_s or session.heartbeat_interval_s
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
        if self._memory is not None:
            self._memory.close()
        error = self.closed_error()
        self._outbox.reject_all(error)
        self._pongs.fail_all(error)
        self._on_close(error)
        self._set_state(ConnectionState.CLOSED)

    def _set_state(self, state: ConnectionState) -> None:
        if state is not self._state:
            self._state = state
            self._on_state(state)
