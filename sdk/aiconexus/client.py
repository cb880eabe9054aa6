"""GatewayClient: one agent's connection to an AIConexus gateway.

The client registers, keeps the session alive, and reconnects after a drop. Every frame it
sends stays in an outbox until the gateway acknowledges it, and is written again, with its
original id, on the next connection; the receiving client drops the second copy, so each
message reaches user code exactly once. Every incoming frame is verified before use.

The client owns one :class:`~aiconexus._connection.Connection` (sessions, heartbeat,
reconnection, sends; with its ``Writer`` and ``Dispatcher``) and keeps what user code waits
on: the :class:`~aiconexus._intake.Intake` that ``recv()`` reads, the replies awaited by
``request()``, the state listeners. Whether to reconnect after an error is the
``retry_policy`` (:mod:`aiconexus.retry`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal

from aiconexus._connection import Connection
from aiconexus._inbound import InboundFilter
from aiconexus._inbox import DEFAULT_MAX_PENDING, Inbox
from aiconexus._intake import DEFAULT_ACK_WITHIN_S, AckOptions, AckWhen, Intake
from aiconexus._outgoing import SENDABLE_TYPES as SENDABLE_TYPES
from aiconexus._outgoing import check_recipient, check_sendable, peer_frame
from aiconexus._pending import DeliveryStatus, ReplyWaiters
from aiconexus._received_log import received_log_for
from aiconexus._registration import ENCRYPT_METADATA_KEY, card_spec, register_metadata
from aiconexus._requests import OfflinePolicy, exec_response, round_trip
from aiconexus._session import SessionOptions
from aiconexus._session_policy import SessionPolicy
from aiconexus.backoff import Backoff
from aiconexus.directory import AgentInfo, list_agents
from aiconexus.errors import ClientClosedError
from aiconexus.protocol import (
    DEFAULT_MAX_MESSAGE_SIZE,
    SEALABLE_TYPES,
    AgentCardSpec,
    Capability,
    Identity,
    Message,
    MessageType,
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
    * ``on_rate_limited`` (``"hold"``): after RATE_LIMITED, hold sending and write the frame
      again when the gateway says (PROTOCOL.md 8.7); ``"raise"``: fail that send with
      :class:`~aiconexus.RateLimitedError` (for callers that report the limit, e.g. a bridge).
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
        self._identity = identity
        self._prepare = functools.partial(peer_frame, identity, by_default=encrypt)
        """Builds, seals when asked and signs this client's frames to other agents."""
        self._logger = logger or logging.getLogger("aiconexus.client")
        self._listeners = StateListeners(self._logger, on_state_change)
        self._replies = ReplyWaiters()
        keep_s = max_message_age_s + clock_skew_s
        self._intake = Intake(
            identity,
            InboundFilter(identity.did, clock_skew_s=clock_skew_s, max_age_s=max_message_age_s),
            Inbox(max_pending),
            acks=AckOptions.of(ack_when, ack_within_s),
            memory=received_log_for(duplicate_memory, identity.key_file, keep_s=keep_s),
            logger=self._logger,
        )
        names, declarations = split_capabilities(capabilities)
        options = SessionOptions(
            capabilities=names,
            metadata=register_metadata(metadata, encrypt),
            capability_info=declarations,
            pinned_gateway_did=gateway_did,
            open_timeout_s=open_timeout_s,
            max_message_size=max_message_size,
            ws_ping_interval_s=ws_ping_interval_s,
            ws_ping_timeout_s=ws_ping_timeout_s,
            clock_skew_s=clock_skew_s,
            recipient_acks=recipient_acks,
            agent_card=card_spec(agent_card, names, declarations, metadata),
        )
        self._connection = Connection(
            identity,
            [url] if isinstance(url, str) else url,
            options,
            self._intake,
            self._replies,
            policy=SessionPolicy(
                heartbeat_interval_s=heartbeat_interval_s,
                reconnect=reconnect,
                backoff=backoff or Backoff(),
                retry_policy=retry_policy,
                retry_on_start=retry_on_start,
                on_rate_limited=on_rate_limited,
            ),
            on_state=self._listeners.notify,
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
        return self._connection.gateway_did

    @property
    def url(self) -> str:
        """The gateway URL of the current (or last, or first configured) session."""
        return self._connection.url

    @property
    def session_id(self) -> str | None:
        """The gateway's id for the current session, if connected."""
        return self._connection.session_id

    @property
    def unacknowledged(self) -> int:
        """How many sent frames still await the gateway's ACK."""
        return self._connection.unacknowledged

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
        await self._connection.connect()

    async def close(self) -> None:
        """Unregister and close; pending sends fail with :class:`~aiconexus.ClientClosedError`.

        Messages already received stay readable with :meth:`recv` until drained.
        """
        await self._connection.close()

    async def wait_closed(self) -> BaseException | None:
        """Wait until the client is closed; return why (None after :meth:`close`)."""
        return await self._connection.wait_closed()

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
        check_recipient(message_type, to)
        message = self._prepare(to, message_type, payload or {}, correlation_id, encrypt=encrypt)
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
        payload = {"args": dict(args or {}), "timeout_ms": int(timeout * 1000)}
        message = self._prepare(to, MessageType.EXEC_REQUEST, payload, encrypt=encrypt)
        answer = await round_trip(self.send_message, self._replies, message, timeout, if_offline)
        return exec_response(answer)

    async def ping(self, to: str | None = None, *, timeout: float = 10.0) -> float:
        """PING the gateway (``to=None``) or another agent; return the round trip in seconds."""
        started = time.monotonic()
        if to is None:
            async with asyncio.timeout(timeout):
                await self._connection.ping()
        else:
            message = self._prepare(to, MessageType.PING, {}, encrypt=None)
            await round_trip(self.send_message, self._replies, message, timeout)
        return time.monotonic() - started

    async def list_agents(self, capability: str | None = None) -> list[AgentInfo]:
        """The agents registered at the gateway (``GET /agents``), optionally by capability."""
        return await list_agents(self.url, capability)

    async def send_message(
        self, message: Message, *, timeout: float | None = None
    ) -> DeliveryStatus:
        """Send an already signed ``message`` (from this identity); see :meth:`send`."""
        self._connection.check_open()
        check_sendable(message, self.did)
        if timeout is None:  # the common case: no timer to arm and cancel
            return await self._connection.send(message)
        async with asyncio.timeout(timeout):
            return await self._connection.send(message)

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
        return await self._intake.take(accept, keep_at_most=keep_at_most, keep_for_s=keep_for_s)

    def __aiter__(self) -> GatewayClient:
        return self

    async def __anext__(self) -> Message:
        try:
            return await self.recv()
        except ClientClosedError:
            raise StopAsyncIteration from None
