"""GatewayClient: one agent's connection to an AIConexus gateway.

The client registers, keeps the session alive, and reconnects after a drop. Every frame it
sends stays in an outbox until the gateway acknowledges it, and is written again, with its
original id, on the next connection; the receiving client drops the second copy, so each
message reaches user code exactly once. Every incoming frame is verified before use.

The client owns one :class:`~aiconexus._connection.Connection` (sessions, heartbeat,
reconnection; with its ``Dialer``, ``Writer`` and ``Dispatcher``) and keeps what user code
waits on: the inbox of ``recv()``, the replies awaited by ``request()``, the state listeners.
Whether to reconnect after an error is the ``retry_policy`` (:mod:`aiconexus.retry`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from aiconexus._connection import DEFAULT_ACK_WITHIN_S, Connection
from aiconexus._dialer import Dialer
from aiconexus._dispatch import Dispatcher, error_of
from aiconexus._e2e import wants_encryption
from aiconexus._inbound import InboundFilter
from aiconexus._inbox import DEFAULT_MAX_PENDING, Inbox
from aiconexus._pending import DeliveryStatus, Outbox, ReplyWaiters
from aiconexus._received_log import ReceivedLog
from aiconexus._session import SessionOptions
from aiconexus._writer import check_outgoing
from aiconexus.backoff import Backoff
from aiconexus.directory import AgentInfo, list_agents
from aiconexus.errors import (
    ClientClosedError,
    RecipientOfflineError,
    RecipientOfflineTimeout,
    RemoteExecutionError,
)
from aiconexus.protocol import (
    DEFAULT_MAX_MESSAGE_SIZE,
    PEER_TYPES,
    SEALABLE_TYPES,
    AgentCardSpec,
    Capability,
    Identity,
    Message,
    MessageType,
    is_valid_did,
    skill_of,
    split_capabilities,
)
from aiconexus.retry import RetryPolicy, default_retry_policy
from aiconexus.state import ConnectionState, StateListener, StateListeners

__all__ = [
    "AckWhen",
    "ENCRYPT_METADATA_KEY",
    "ConnectionState",
    "DeliveryStatus",
    "GatewayClient",
    "OfflinePolicy",
    "StateListener",
]


AckWhen = Literal["received", "taken"]
"""When a received frame is acknowledged to the gateway: in the inbox, or read from it."""

ENCRYPT_METADATA_KEY = "encrypt"
"""REGISTER metadata member by which an agent asks bridges to seal what they send it."""

OfflinePolicy = Literal["wait", "fail"]
"""What ``request()`` does when the gateway queues it for a recipient that is not connected."""

SENDABLE_TYPES = PEER_TYPES
"""Types user code may send to another agent (the client itself handles the others)."""


class GatewayClient:
    """A connection to an AIConexus gateway for one :class:`~aiconexus.Identity`.

    ``url`` is the gateway's WebSocket URL, or a list of URLs tried in turn when one is down.
    Use as ``async with GatewayClient(url, identity) as client:`` (or :meth:`connect` and
    :meth:`close`). Options are keyword-only:

    * ``capabilities``, ``metadata``: what the gateway lists for this agent in ``GET /agents``.
      A capability is a name (``"echo"``) or a :class:`~aiconexus.Capability` that also
      declares a description, a JSON Schema for its ``args`` and examples (PROTOCOL.md 6.1).
    * ``gateway_did``: pin the gateway's identity; a gateway with another key is refused.
    * ``reconnect`` (True): reconnect after a drop; ``backoff``: the delay policy.
    * ``retry_policy``: a :class:`~aiconexus.retry.RetryPolicy` deciding from the exception
      (or close code) whether to reconnect after a drop or a failed connect; default:
      :func:`~aiconexus.retry.default_retry_policy` (network trouble yes, refusals no).
    * ``retry_on_start`` (False): keep trying when no gateway answers the first connect,
      instead of raising :class:`~aiconexus.GatewayUnreachableError`.
    * ``heartbeat_interval_s``: PING period; default: what the gateway says in REGISTERED.
    * ``clock_skew_s`` (300): allowed clock difference; ``max_message_age_s``: oldest frame
      accepted from another agent (it may have waited in the gateway's offline store).
    * ``on_state_change``: a :data:`StateListener` (more with :meth:`add_state_listener`).
    * ``recipient_acks`` (True): acknowledge received frames to the gateway, so that a
      ``delivered`` ACK to their senders means this client took them in (PROTOCOL.md).
    * ``on_rate_limited`` (``"hold"``): after a RATE_LIMITED refusal, hold sending and
      write the frame again when the gateway says (PROTOCOL.md 8.7); ``"raise"``: fail that
      send with :class:`~aiconexus.RateLimitedError` instead (for callers that report the
      limit to someone else, such as a bridge).
    * ``agent_card`` (True): when the gateway announces its public URL (PROTOCOL.md 7.1),
      send this agent's A2A card, built from ``capabilities`` and ``metadata["name"]`` /
      ``metadata["description"]`` and signed with ``identity`` (an
      :class:`~aiconexus.AgentCardSpec` says more; False sends none).
    * ``encrypt`` (False): seal the payload of every frame this client sends of a type that
      may be encrypted, end to end for its recipient (PROTOCOL.md 8.10); ``encrypt=`` on one
      call wins. Received encrypted frames are decrypted whatever this option says. With
      True the REGISTER metadata also says ``"encrypt": true`` (unless ``metadata`` sets
      it), asking bridges to seal what they send this agent (BRIDGES.md).
    * ``max_pending`` (10,000): most received frames kept for ``recv()``. Beyond it a frame
      is neither kept nor acknowledged: the gateway keeps it and delivers it again in a
      later session (a warning is logged once until a frame is read).
    * ``ack_when`` (``"received"``): acknowledge a frame to the gateway when it is put in
      this client's inbox; ``"taken"``: only when ``recv()`` (or ``async for``) returns it,
      so frames nobody read when the client closes stay with the gateway, which delivers
      them again. Answers awaited by ``request()`` and ``ping(to)`` are acknowledged at once.
    * ``ack_within_s`` (10): with ``ack_when="taken"``, a frame left in the inbox this long
      is acknowledged anyway (it stays there for a reader). Keep it below the gateway's
      ``ACK_TIMEOUT`` (30 s by default), past which the gateway closes a recipient that
      leaves a frame unacknowledged as a slow consumer.
    * ``duplicate_memory`` (True): remember, in a file, the ids of the frames acknowledged,
      so that a copy the gateway delivers again after a restart of this process is dropped
      rather than received twice. True: the file ``<key file>.received`` beside the key
      file of an identity made by :meth:`~aiconexus.Identity.load` (in memory only for
      other identities); a path: that file; False: in memory only. At most 10,000 ids,
      each kept for ``max_message_age_s``.
    """

    def __init__(
        self,
        url: str | Sequence[str],
        identity: Identity,
        *,
        capabilities: Iterable[str | Capability] = (),
        metadata: Mapping[str, Any] | None = None,
        gateway_did: str | None = None,
        reconnect: bool = True,
        backoff: Backoff | None = None,
        retry_on_start: bool = False,
        heartbeat_interval_s: float | None = None,
        open_timeout_s: float = 10.0,
        ws_ping_interval_s: float | None = 20.0,
        ws_ping_timeout_s: float | None = 20.0,
        clock_skew_s: float = 300.0,
        max_message_age_s: float = 86_400.0 + 300.0,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        on_state_change: StateListener | None = None,
        logger: logging.Logger | None = None,
        recipient_acks: bool = True,
        retry_policy: RetryPolicy = default_retry_policy,
        encrypt: bool = False,
        max_pending: int = DEFAULT_MAX_PENDING,
        ack_when: AckWhen = "received",
        ack_within_s: float = DEFAULT_ACK_WITHIN_S,
        duplicate_memory: bool | str | os.PathLike[str] = True,
        agent_card: AgentCardSpec | bool = True,
        on_rate_limited: Literal["hold", "raise"] = "hold",
    ) -> None:
        if on_rate_limited not in ("hold", "raise"):
            raise ValueError(f"on_rate_limited must be 'hold' or 'raise', not {on_rate_limited!r}")
        if ack_when not in ("received", "taken"):
            raise ValueError(f"ack_when must be 'received' or 'taken', not {ack_when!r}")
        self._identity = identity
        self._encrypt = encrypt
        self._logger = logger or logging.getLogger("aiconexus.client")
        self._listeners = StateListeners(self._logger, on_state_change)
        self._outbox = Outbox()
        self._replies = ReplyWaiters()
        self._inbox = Inbox(max_pending)
        self._memory = _memory_of(identity, duplicate_memory, max_message_age_s + clock_skew_s)
        names, declarations = split_capabilities(capabilities)
        options = SessionOptions(
            capabilities=names,
            metadata=_register_metadata(metadata, encrypt),
            capability_info=declarations,
            pinned_gateway_did=gateway_did,
            open_timeout_s=open_timeout_s,
            max_message_size=max_message_size,
            ws_ping_interval_s=ws_ping_interval_s,
            ws_ping_timeout_s=ws_ping_timeout_s,
            clock_skew_s=clock_skew_s,
            recipient_acks=recipient_acks,
            agent_card=_card_spec(agent_card, names, declarations, metadata),
        )
        self._dialer = dialer = Dialer(
            [url] if isinstance(url, str) else url,
            identity,
            options,
            retry_policy=retry_policy,
            retry_on_start=retry_on_start,
            logger=self._logger,
        )
        pongs = ReplyWaiters()
        inbound = InboundFilter(
            identity.did, clock_skew_s=clock_skew_s, max_age_s=max_message_age_s
        )
        dispatcher = Dispatcher(
            inbound,
            outbox=self._outbox,
            replies=self._replies,
            pongs=pongs,
            keys=identity,
            hold_when_rate_limited=on_rate_limited == "hold",
        )
        self._inbound = inbound
        self._connection = Connection(
            identity,
            dialer,
            dispatcher,
            outbox=self._outbox,
            pongs=pongs,
            inbox=self._inbox,
            ack_on_take=ack_when == "taken",
            ack_within_s=ack_within_s,
            memory=self._memory,
            on_state=self._listeners.notify,
            on_close=self._on_close,
            reconnect=reconnect,
            backoff=backoff or Backoff(),
            retry_policy=retry_policy,
            heartbeat_interval_s=heartbeat_interval_s,
            resign_after_s=clock_skew_s - min(clock_skew_s / 2, max(5.0, clock_skew_s / 10)),
            logger=self._logger,
        )

    # -- properties --------------------------------------------------------------------------
    @property
    def identity(self) -> Identity:
        """The identity this client signs with."""
        return self._identity

    @property
    def did(self) -> str:
        """The DID of this client's identity."""
        return self._identity.did

    @property
    def state(self) -> ConnectionState:
        """The current :class:`ConnectionState`."""
        return self._connection.state

    @property
    def gateway_did(self) -> str | None:
        """The DID of the gateway of the current (or last) session."""
        session = self._connection.last_session
        return session.gateway_did if session else self._dialer.options.pinned_gateway_did

    @property
    def url(self) -> str:
        """The gateway URL of the current (or last, or first configured) session."""
        session = self._connection.last_session
        return session.url if session else self._dialer.urls[0]

    @property
    def session_id(self) -> str | None:
        """The gateway's id for the current session, if connected."""
        session = self._connection.session
        return session.session_id if session else None

    @property
    def unacknowledged(self) -> int:
        """How many sent frames still await the gateway's ACK."""
        return len(self._outbox)

    def add_state_listener(self, listener: StateListener) -> None:
        """Call ``listener`` with each new :class:`ConnectionState`."""
        self._listeners.add(listener)

    # -- lifecycle ---------------------------------------------------------------------------
    async def __aenter__(self) -> GatewayClient:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def connect(self) -> None:
        """Open the first session; return once registered.

        Raises :class:`~aiconexus.GatewayUnreachableError` when no URL answers (unless
        ``retry_on_start``), or the protocol error when the gateway refuses the REGISTER.
        A client connects once; make a new one to connect again after :meth:`close`.
        """
        if self._memory is not None and not self._connection.started:
            now = time.monotonic()
            for sender, message_id in self._memory.open(time.time()):
                self._inbound.remember(sender, message_id, now)
        await self._connection.connect()

    async def close(self) -> None:
        """Unregister and close; pending sends fail with :class:`~aiconexus.ClientClosedError`.

        Messages already received stay readable with :meth:`recv` until drained.
        """
        await self._connection.close()

    async def wait_closed(self) -> BaseException | None:
        """Wait until the client is closed; return why (None after :meth:`close`)."""
        return await self._connection.wait_closed()

    def _on_close(self, error: ClientClosedError) -> None:
        """The connection closed for good: fail waiting requests, end ``recv()`` once drained."""
        self._replies.fail_all(error)
        self._inbox.close()

    # -- sending -----------------------------------------------------------------------------
    async def send(
        self,
        to: str,
        type: MessageType | str,
        payload: Mapping[str, Any] | None = None,
        *,
        correlation_id: str | None = None,
        timeout: float | None = None,
        encrypt: bool | None = None,
    ) -> DeliveryStatus:
        """Sign and send a frame to agent ``to``; return the gateway's ACK status.

        ``encrypt``: seal the payload for ``to`` first (default: the client's ``encrypt``).

        Returns ``"delivered"`` (handed to the recipient's connection) or ``"queued"``
        (stored until the recipient connects). Raises the protocol error the gateway reports
        (``UnknownAgentError``, ``QueueFullError``, ``RateLimitedError`` ...),
        :class:`~aiconexus.ClientClosedError` if the client closes first, and ``TimeoutError``
        after ``timeout`` seconds (default: wait through reconnections as long as it takes).
        ``INTERNAL_ERROR`` (outcome unknown) is not raised: the frame is written again, same
        id, after a pause, until the gateway takes it or says it took the first copy.
        """
        message_type = MessageType(type)
        if message_type not in SENDABLE_TYPES:
            raise ValueError(f"{message_type} frames are sent by the client itself, not by send()")
        if not is_valid_did(to):
            raise ValueError(f"recipient is not an Ed25519 did:key: {to!r}")
        message = self._prepare(to, message_type, payload or {}, correlation_id, encrypt)
        return await self.send_message(message, timeout=timeout)

    async def reply(
        self,
        message: Message,
        type: MessageType | str,
        payload: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
        encrypt: bool | None = None,
    ) -> DeliveryStatus:
        """Send a frame answering ``message`` (to its sender, ``correlation_id`` = its id).

        ``encrypt`` defaults to: encrypted when ``message`` was (and ``type`` may be).
        """
        if encrypt is None:
            encrypt = message.encrypted and MessageType(type) in SEALABLE_TYPES
        answer_to, answered = message.from_, message.id
        return await self.send(
            answer_to, type, payload, correlation_id=answered, timeout=timeout, encrypt=encrypt
        )

    async def request(
        self,
        to: str,
        args: Mapping[str, Any] | None = None,
        *,
        timeout: float = 30.0,
        if_offline: OfflinePolicy = "wait",
        encrypt: bool | None = None,
    ) -> Message:
        """Send an EXEC_REQUEST with ``args`` to ``to`` and return its EXEC_RESPONSE.

        ``encrypt``: seal the request for ``to`` (default: the client's ``encrypt``); an
        agent of this SDK then answers encrypted too.

        When ``to`` is not connected the gateway stores the request and its ACK says
        ``queued``. ``if_offline="wait"`` (the default) keeps waiting for the answer; a
        timeout then raises :class:`~aiconexus.RecipientOfflineTimeout` (a ``TimeoutError``).
        ``if_offline="fail"`` raises :class:`~aiconexus.RecipientOfflineError` as soon as that
        ACK arrives.

        Raises ``TimeoutError`` when a connected recipient sends no response within
        ``timeout`` seconds, :class:`~aiconexus.RemoteExecutionError` when the response's
        status is ``error``, and the protocol error when the gateway refuses the request or
        the peer answers ERROR.
        """
        if if_offline not in ("wait", "fail"):
            raise ValueError(f"if_offline must be 'wait' or 'fail', not {if_offline!r}")
        payload = {"args": dict(args or {}), "timeout_ms": int(timeout * 1000)}
        message = self._prepare(to, MessageType.EXEC_REQUEST, payload, encrypt=encrypt)
        response = await self._round_trip(
            message, {MessageType.EXEC_RESPONSE, MessageType.ERROR}, timeout, if_offline
        )
        if response.type == MessageType.ERROR:
            raise error_of(response)
        if response.payload["status"] == "error":
            raise RemoteExecutionError(response.payload.get("error"), response)
        return response

    async def ping(
        self,
        to: str | None = None,
        *,
        timeout: float = 10.0,
    ) -> float:
        """PING the gateway (``to=None``) or another agent; return the round trip in seconds."""
        started = time.monotonic()
        if to is None:
            async with asyncio.timeout(timeout):
                await self._connection.ping()
        else:
            message = self._prepare(to, MessageType.PING, {})
            await self._round_trip(message, {MessageType.PONG, MessageType.ERROR}, timeout)
        return time.monotonic() - started

    async def list_agents(self, capability: str | None = None) -> list[AgentInfo]:
        """The agents registered at the gateway (``GET /agents``), optionally by capability."""
        return await list_agents(self.url, capability)

    def _prepare(
        self,
        to: str,
        type: MessageType,
        payload: Mapping[str, Any],
        correlation_id: str | None = None,
        encrypt: bool | None = None,
    ) -> Message:
        """Prepare an outgoing frame to another agent: build, seal when asked, and sign it.

        ``send``, ``reply``, ``request`` and ``ping(to)`` build their frames here: the place
        for a transformation of what this client sends (e.g. encryption).
        """
        sealed = wants_encryption(type, encrypt, self._encrypt)
        return Message.create(
            self._identity, type, to, dict(payload), correlation_id=correlation_id, encrypt=sealed
        )

    async def send_message(
        self,
        message: Message,
        *,
        timeout: float | None = None,
    ) -> DeliveryStatus:
        """Send an already signed ``message`` (from this identity); see :meth:`send`."""
        self._connection.check_open()
        if message.from_ != self.did:
            raise ValueError("the message is not signed by this client's identity")
        if message.type not in SENDABLE_TYPES:
            raise ValueError(f"{message.type} frames are sent by the client itself")
        check_outgoing(message, self._dialer.options.max_message_size)
        entry = self._outbox.add(message)
        try:
            async with asyncio.timeout(timeout):
                await self._connection.write(entry)
                return await entry.future
        finally:
            self._outbox.discard(message.id)

    async def _round_trip(
        self,
        message: Message,
        types: set[MessageType],
        timeout: float,
        if_offline: OfflinePolicy = "wait",
    ) -> Message:
        assert message.to is not None
        reply = self._replies.expect(message.id, message.to, types)
        status: DeliveryStatus | None = None
        try:
            async with asyncio.timeout(timeout) as scope:
                status = await self.send_message(message)
                if status == "queued" and if_offline == "fail":
                    raise RecipientOfflineError(message)
                return await reply
        except TimeoutError:
            if not scope.expired():
                raise
            if status == "queued":
                raise RecipientOfflineTimeout(message, timeout) from None
            raise TimeoutError(
                f"no answer to {message.type} {message.id} from {message.to} in {timeout:g}s"
            ) from None
        finally:
            self._replies.cancel(message.id)

    # -- receiving ---------------------------------------------------------------------------
    async def recv(self) -> Message:
        """The next verified incoming message; ClientClosedError once closed and drained."""
        message = await self._take()
        if message is None:
            raise self._connection.closed_error()
        return message

    async def _take(
        self,
        accept: Callable[[Message], bool] | None = None,
        *,
        keep_at_most: int | None = None,
        keep_for_s: float | None = None,
    ) -> Message | None:
        """The oldest received frame ``accept`` takes (see ``Inbox.get``); None once closed."""
        if not self._connection.started:
            raise self._connection.closed_error()
        message = await self._inbox.get(accept, keep_at_most=keep_at_most, keep_for_s=keep_for_s)
        if message is not None:
            self._connection.taken(message)
        return message

    def _readers_changed(self) -> None:
        """What a selective reader accepts changed (a handler was attached): look again."""
        self._inbox.wake()

    def __aiter__(self) -> GatewayClient:
        return self

    async def __anext__(self) -> Message:
        try:
            return await self.recv()
        except ClientClosedError:
            raise StopAsyncIteration from None


def _memory_of(
    identity: Identity, option: bool | str | os.PathLike[str], keep_s: float
) -> ReceivedLog | None:
    """The duplicate memory file the ``duplicate_memory`` option names (None: none)."""
    if option is False:
        return None
    if option is True:
        key_file = identity.key_file
        if key_file is None:
            return None
        option = key_file.with_name(key_file.name + ".received")
    return ReceivedLog(Path(option), keep_s=keep_s)


def _card_spec(
    agent_card: AgentCardSpec | bool,
    names: Sequence[str],
    declarations: Mapping[str, Mapping[str, Any]],
    metadata: Mapping[str, Any] | None,
) -> AgentCardSpec | None:
    """The card to send: the given spec, or one from capabilities and metadata (True).

    A declared capability's description becomes its skill's description, and its example
    ``args`` the skill's examples (as JSON text).
    """
    if isinstance(agent_card, AgentCardSpec):
        return agent_card
    if not agent_card:
        return None
    meta = metadata or {}
    name, description = meta.get("name"), meta.get("description")
    return AgentCardSpec(
        name=name if isinstance(name, str) else "",
        description=description if isinstance(description, str) else "",
        capabilities=tuple(names),
        skills={name: skill_of(info) for name, info in declarations.items()},
    )


def _register_metadata(metadata: Mapping[str, Any] | None, encrypt: bool) -> dict[str, Any]:
    """The REGISTER metadata: ``metadata``, and ``"encrypt": true`` for an encrypting client."""
    announced = dict(metadata or {})
    if encrypt:
        announced.setdefault(ENCRYPT_METADATA_KEY, True)
    return announced
