"""Agent: handlers per message type on top of a GatewayClient.

>>> agent = Agent(Identity.generate(), capabilities=["echo"])
>>> @agent.on("EXEC_REQUEST")
... async def echo(msg: Message) -> dict[str, Any]:
...     return {"echo": msg.payload["args"]}

``await agent.run(url)`` then serves until cancelled, or until SIGINT (Ctrl-C) or SIGTERM,
after which it unregisters, closes and returns. It logs one line with its DID once
registered (to stderr when logging is not configured).

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
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from aiconexus.client import GatewayClient
from aiconexus.errors import ClientClosedError
from aiconexus.protocol import Capability, ErrorCode, Identity, IoapError, Message, MessageType
from aiconexus.state import ConnectionState

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
    ``backoff``, ``heartbeat_interval_s``, ``encrypt`` ...). ``max_concurrency`` bounds how
    many handlers run at once; use 1 to handle messages strictly one after another.

    ``capabilities`` are names or :class:`~aiconexus.Capability` declarations (a description,
    a JSON Schema for ``args``, examples), listed by ``GET /agents`` (PROTOCOL.md 6.1).

    Handlers get encrypted messages decrypted (``msg.encrypted`` True); the answers sent for
    them are encrypted when the message answered was (PROTOCOL.md 8.10).
    """

    def __init__(
        self,
        identity: Identity,
        *,
        capabilities: Iterable[str | Capability] = (),
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

    async def run(
        self,
        url: str | Sequence[str],
        *,
        handle_signals: bool = True,
        **client_options: Any,
    ) -> None:
        """Serve until cancelled or stopped, reconnecting as needed (waits for a gateway).

        Logs one line on the ``aiconexus.agent`` logger once registered (DID, state, gateway
        URL and DID), one after each reconnection and one when it stops. When no logging is
        configured (no handler on ``aiconexus`` or the root logger) it first gives the
        ``aiconexus`` logger a stderr handler showing those lines and every warning;
        configure logging yourself (e.g. ``logging.basicConfig``) to choose otherwise.

        With ``handle_signals`` (in the main thread of a Unix event loop) SIGINT (Ctrl-C)
        and SIGTERM make it unregister, close and return normally instead of raising.
        Returns with an error only if the client closes for good, raising why (e.g.
        SessionReplacedError).
        """
        _log_to_stderr_if_unconfigured()
        client_options.setdefault("retry_on_start", True)
        stop = asyncio.Event()
        caught: list[str] = []
        registered_at: list[str] = []
        installed = _install_stop_signals(stop, caught) if handle_signals else []
        serving = asyncio.ensure_future(self._serve(url, client_options, registered_at))
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({serving, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            if not serving.done():
                serving.cancel()  # leaving connect() unregisters and closes the client
                await asyncio.gather(serving, return_exceptions=True)
            _restore_signals(installed)
        if caught:
            what = (
                f"unregistered from {registered_at[-1]} and closed"
                if registered_at
                else "closed before it registered"
            )
            self._logger.info("agent %s stopped on %s: %s", self.did, caught[0], what)
            return
        reason = serving.result()
        if reason is not None:
            raise reason

    async def _serve(
        self, url: str | Sequence[str], options: dict[str, Any], registered_at: list[str]
    ) -> BaseException | None:
        async with self.connect(url, **options) as client:
            registered_at.append(client.url)
            self._logger.info(
                "agent %s %s at %s (gateway %s)",
                self.did,
                client.state.value.lower(),
                client.url,
                client.gateway_did,
            )

            def on_state(state: ConnectionState) -> None:
                if state is ConnectionState.CONNECTED:
                    self._logger.info("agent %s reconnected at %s", self.did, client.url)

            client.add_state_listener(on_state)
            return await client.wait_closed()

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


_Installed = list[tuple[signal.Signals, Any]]


def _install_stop_signals(stop: asyncio.Event, caught: list[str]) -> _Installed:
    """Make SIGINT and SIGTERM set ``stop``; the signals handled, each with its old handler."""
    loop = asyncio.get_running_loop()
    installed: _Installed = []

    def on_signal(signum: signal.Signals) -> None:
        if not caught:
            caught.append(signum.name)
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(signum)
        try:
            loop.add_signal_handler(signum, on_signal, signum)
        except (NotImplementedError, RuntimeError, ValueError):
            break  # not the main thread, or no signal support in this loop
        installed.append((signum, previous))
    return installed


def _restore_signals(installed: _Installed) -> None:
    """Put back the handlers that were there before :func:`_install_stop_signals`."""
    loop = asyncio.get_running_loop()
    for signum, previous in installed:
        loop.remove_signal_handler(signum)
        if previous is not None:
            signal.signal(signum, previous)


def _log_to_stderr_if_unconfigured() -> None:
    """Unless logging is configured, show the agent's INFO lines and every warning on stderr."""
    package = logging.getLogger("aiconexus")
    if package.hasHandlers():
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(
        lambda record: record.levelno >= logging.WARNING or record.name == "aiconexus.agent"
    )
    package.addHandler(handler)
    if package.level == logging.NOTSET:
        package.setLevel(logging.INFO)
