"""Agent: handlers per message type on top of a GatewayClient.

>>> agent = Agent(Identity.generate(), capabilities=["echo"])
>>> @agent.on("EXEC_REQUEST")
... async def echo(msg: Message) -> dict[str, Any]:
...     return {"echo": msg.payload["args"]}

``await agent.run(url)`` then serves until cancelled.

What a handler's return value means depends on the type it handles:

========================  ====================================================================
handled type              a returned mapping is sent back as
========================  ====================================================================
``EXEC_REQUEST``          the ``result`` (any JSON value) of an EXEC_RESPONSE ``success``
``INTENT``                the payload of an INTENT reply (``None``: no reply)
``OFFER``                 the payload of an ANSWER (``None``: no reply)
``PING``                  the payload of the PONG (``None``: a PONG echoing ``sequence``)
anything else             ignored
========================  ====================================================================

A handler that raises answers an EXEC_REQUEST with an EXEC_RESPONSE of status ``error``
carrying only the exception's message (the traceback stays in the local log), and any other
type that is not itself a reply with an ERROR ``INTERNAL_ERROR``.

Without a handler: PING gets a PONG, EXEC_REQUEST an EXEC_RESPONSE with status ``error``,
an opening INTENT an INTENT with status ``unsupported``; anything else is logged and dropped.
Automatic answers are never sent to frames that are themselves replies, so two agents
cannot bounce answers back and forth.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from aiconexus.client import GatewayClient
from aiconexus.errors import ClientClosedError
from aiconexus.protocol import ErrorCode, Identity, IoapError, Message, MessageType

__all__ = ["Agent", "Handler"]

Handler = Callable[[Message], Awaitable[Any]]
"""An ``async`` function taking the verified Message; see the module docs for its result."""

_H = TypeVar("_H", bound=Handler)

_REPLY_TYPES = {
    MessageType.INTENT: MessageType.INTENT,
    MessageType.OFFER: MessageType.ANSWER,
    MessageType.PING: MessageType.PONG,
}


class Agent:
    """An agent: an identity, its capabilities, and a handler per message type.

    ``client_options`` are passed to :class:`~aiconexus.GatewayClient` (``gateway_did``,
    ``backoff``, ``heartbeat_interval_s`` ...). ``max_concurrency`` bounds how many handlers
    run at once; use 1 to handle messages strictly one after another.
    """

    def __init__(
        self,
        identity: Identity,
        *,
        capabilities: Iterable[str] = (),
        metadata: Mapping[str, Any] | None = None,
        max_concurrency: int = 64,
        logger: logging.Logger | None = None,
        **client_options: Any,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        self.identity = identity
        self.capabilities = list(capabilities)
        self.metadata = dict(metadata or {})
        self.max_concurrency = max_concurrency
        self._logger = logger or logging.getLogger("aiconexus.agent")
        self._client_options = client_options
        self._handlers: dict[MessageType, Handler] = {}
        self._client: GatewayClient | None = None

    @property
    def did(self) -> str:
        """The DID of the agent's identity."""
        return self.identity.did

    @property
    def client(self) -> GatewayClient:
        """The connected client (to send or request from handlers); error when not connected."""
        if self._client is None:
            raise ClientClosedError("the agent is not connected; use run() or connect()")
        return self._client

    def on(self, type: MessageType | str) -> Callable[[_H], _H]:
        """Decorator: handle incoming messages of ``type`` with the decorated async function."""
        message_type = MessageType(type)
        if message_type in {
            MessageType.REGISTER,
            MessageType.UNREGISTER,
            MessageType.CHALLENGE,
            MessageType.REGISTERED,
            MessageType.ACK,
        }:
            raise ValueError(f"{message_type} frames are handled by the client itself")

        def register(handler: _H) -> _H:
            candidate: object = handler
            if not inspect.iscoroutinefunction(candidate):
                raise TypeError("a handler must be an `async def` function")
            self._handlers[message_type] = handler
            return handler

        return register

    @asynccontextmanager
    async def connect(
        self, url: str | Sequence[str], **client_options: Any
    ) -> AsyncIterator[GatewayClient]:
        """Connect and serve handlers in the background while the ``async with`` body runs."""
        options = {**self._client_options, **client_options}
        client = GatewayClient(
            url, self.identity, capabilities=self.capabilities, metadata=self.metadata, **options
        )
        async with client:
            self._client = client
            dispatcher = asyncio.create_task(self._dispatch(client), name="aiconexus-agent")
            try:
                yield client
            finally:
                dispatcher.cancel()
                await asyncio.gather(dispatcher, return_exceptions=True)
                self._client = None

    async def run(self, url: str | Sequence[str], **client_options: Any) -> None:
        """Serve until cancelled, reconnecting as needed (waits for a gateway that is down).

        Returns only if the client closes for good, raising why (e.g. SessionReplacedError).
        """
        client_options.setdefault("retry_on_start", True)
        async with self.connect(url, **client_options) as client:
            reason = await client.wait_closed()
        if reason is not None:
            raise reason

    # -- dispatch ----------------------------------------------------------------------------
    async def _dispatch(self, client: GatewayClient) -> None:
        slots = asyncio.Semaphore(self.max_concurrency)
        running: set[asyncio.Task[None]] = set()
        try:
            async for message in client:
                await slots.acquire()
                task = asyncio.create_task(self._handle(client, message))
                running.add(task)
                task.add_done_callback(running.discard)
                task.add_done_callback(lambda _: slots.release())
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    async def _handle(self, client: GatewayClient, message: Message) -> None:
        handler = self._handlers.get(message.type)
        started = time.monotonic()
        try:
            answer = await self._answer(handler, message, started)
        except Exception as exc:
            self._logger.exception("handler for %s %s failed", message.type, message.id)
            answer = self._failure(message, exc)
        if answer is None:
            return
        try:
            await client.send_message(answer)
        except (IoapError, ClientClosedError) as exc:
            self._logger.warning("could not answer %s %s: %s", message.type, message.id, exc)

    async def _answer(
        self, handler: Handler | None, message: Message, started: float
    ) -> Message | None:
        me = self.identity
        is_reply = message.correlation_id is not None
        if handler is None:
            if message.type == MessageType.PING:
                return message.pong(me)
            if message.type == MessageType.EXEC_REQUEST:
                return message.exec_response(me, error="no handler for EXEC_REQUEST")
            if message.type == MessageType.INTENT and not is_reply:
                return message.reply(me, MessageType.INTENT, {"status": "unsupported"})
            self._logger.debug("no handler for %s %s; dropped", message.type, message.id)
            return None
        result = await handler(message)
        if message.type == MessageType.EXEC_REQUEST:
            elapsed_ms = (time.monotonic() - started) * 1000
            value = dict(result) if isinstance(result, Mapping) else result
            return message.exec_response(me, value, execution_time_ms=elapsed_ms)
        if message.type == MessageType.PING and result is None:
            return message.pong(me)
        reply_type = _REPLY_TYPES.get(message.type)
        if reply_type is None or result is None:
            return None
        if not isinstance(result, Mapping):
            raise TypeError(f"a {message.type} handler must return a mapping or None")
        return message.reply(me, reply_type, dict(result))

    def _failure(self, message: Message, exc: Exception) -> Message | None:
        text = str(exc) or type(exc).__name__
        if message.type == MessageType.EXEC_REQUEST:
            return message.exec_response(self.identity, error=text)
        if message.correlation_id is not None or message.type == MessageType.ERROR:
            return None
        payload = {"code": str(ErrorCode.INTERNAL_ERROR), "message": text}
        return message.reply(self.identity, MessageType.ERROR, payload)
