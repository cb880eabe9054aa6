"""The gateway's WebSocket server protocol: websockets' sans-I/O core pumped by asyncio for ASGI.

uvicorn takes this class as its ``ws`` implementation: its HTTP protocol constructs it for an
upgrade request (``config``, ``server_state``, ``app_state``); its server calls ``shutdown()``
on each of ``server_state.connections`` when it stops. Nothing else of uvicorn is used (what
is read is listed in :data:`UVICORN_INTERFACE`); websockets' ``ServerProtocol`` parses and
builds the bytes, see also :mod:`.ws_handshake` and :mod:`.ws_keepalive`.

One ASGI extension is added: batched sends. A ``{"type": "websocket.send.batch", "texts":
[...]}`` message writes several text frames with a single socket write (one system call
instead of one per frame). It is announced in ``scope["extensions"]`` as :data:`SEND_BATCH`;
the gateway falls back to one ``websocket.send`` per frame under a server without it.

Text sends (single or batched) return only once the transport's user-space buffer is empty,
i.e. the frame's bytes are in the kernel (the write buffer's high-water mark is 0); a send
whose connection is lost before that raises :class:`ClientDisconnected`. The gateway's
"delivered" for a client without recipient acknowledgements follows such a return.

Closing never waits behind a peer that stopped reading: the close frame is queued behind what
is buffered at once, and the connection is aborted when the closing handshake has not
finished within the message's ``"timeout"`` (seconds; the gateway passes CLOSE_TIMEOUT,
default :attr:`BatchingWebSocketProtocol.close_timeout_s`). A peer that does not answer a ping
within ``ws_ping_timeout`` is closed 1011, and aborted if that close does not finish in time.
Reading pauses while received messages wait for the application. A text frame that is not
UTF-8 is closed 1007 with one log line, a frame over ``ws_max_size`` 1009. permessage-deflate
is never negotiated.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, ClassVar, cast

from websockets.exceptions import InvalidState
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.server import ServerProtocol

from aiconexus.protocol import CloseCode
from aiconexus_gateway.errors import GatewayError
from aiconexus_gateway.lean import LeanEvent, LeanQueue

from .ws_handshake import HTTP_RESPONSE, Upgrade, asgi_scope, plain_response
from .ws_keepalive import Keepalive
from .ws_text_frames import can_write_directly, text_frames, through_core

__all__ = ["SEND_BATCH", "UVICORN_INTERFACE", "BatchingWebSocketProtocol", "ClientDisconnected"]

logger = logging.getLogger("aiconexus.gateway")

WIRE_LOGGER = logging.getLogger("uvicorn.error")
"""websockets' core logs each open and close at INFO: to uvicorn's logger (quiet but in DEBUG)."""

_Data = bytes | bytearray | memoryview  # a frame's payload

SEND_BATCH = "websocket.send.batch"
"""The ASGI message type (and scope extension name) of a batched send."""

UVICORN_INTERFACE = {
    "config": ("loaded_app", "root_path", "asgi_version", "ws_max_size", "ws_ping_interval",
               "ws_ping_timeout"),
    "server_state": ("connections", "tasks", "default_headers"),
}  # fmt: skip
"""What this module reads of the ``config`` and ``server_state`` uvicorn constructs it with."""


class ClientDisconnected(GatewayError, ConnectionError):
    """A send to a connection that is closed or closing (an ``OSError``, as ASGI asks)."""


class BatchingWebSocketProtocol(asyncio.Protocol):
    """One WebSocket connection: bytes through ``ServerProtocol``, messages to and from ASGI.

    Light per connection (``__slots__``, :mod:`.lean` queue and event, one keepalive timer);
    the handshake's request, response and header list are let go once the connection is
    accepted.
    """

    __slots__ = (
        "_app_state", "_close_timer", "_config", "_fragments", "_keepalive", "_server_state",
        "client", "close_sent", "conn", "disconnected", "handshake_complete", "loop", "queue",
        "read_paused", "scope", "transport", "upgrade", "writable",
    )  # fmt: skip

    close_timeout_s: ClassVar[float] = 5.0
    """Seconds a closing handshake may take before the connection is aborted."""

    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._config = config
        self._server_state = server_state
        self._app_state = app_state
        self.loop = _loop or asyncio.get_running_loop()
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.client: tuple[str, int] | None = None
        self.scope: dict[str, Any] | None = None
        self.conn = ServerProtocol(max_size=config.ws_max_size, logger=WIRE_LOGGER)
        self.queue: LeanQueue[dict[str, Any]] = LeanQueue()
        self.writable = LeanEvent()
        self.writable.set()
        self.handshake_complete = self.close_sent = self.disconnected = self.read_paused = False
        self.upgrade: Upgrade | None = None
        """The opening handshake while the application has not answered it."""
        self._fragments: tuple[bool, list[_Data]] | None = None  # (text?, its frames)
        self._close_timer: asyncio.TimerHandle | None = None
        self._keepalive: Keepalive | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Join the server's connections; the transport reports any data left in its buffer."""
        self._server_state.connections.add(self)
        self.transport = transport = cast(asyncio.Transport, transport)  # uvloop's: no subclass
        transport.set_write_buffer_limits(high=0)

    def connection_lost(self, exc: Exception | None) -> None:
        """The application sees a disconnect; pending sends fail with ClientDisconnected."""
        self._stop_keepalive()
        code = 1005 if self.handshake_complete else 1006
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code})
        self._server_state.connections.discard(self)
        self.handshake_complete = self.disconnected = True
        self.writable.set()  # asyncio never resumes writing on a transport lost while paused
        self._cancel_close_timer()
        if exc is None:
            self.transport.close()

    def eof_received(self) -> None:
        """The peer half-closed: the transport closes (the disconnect follows)."""

    def pause_writing(self) -> None:
        """Data stays in the transport's buffer: sends wait."""
        self.writable.clear()

    def resume_writing(self) -> None:
        """The buffer is flushed to the kernel."""
        self.writable.set()

    def data_received(self, data: bytes) -> None:
        """Feed the sans-I/O core; hand its events on; write what it answers (pong, close)."""
        conn = self.conn
        conn.receive_data(data)
        for event in conn.events_received():
            if isinstance(event, Frame):
                self._frame(event)
            elif isinstance(event, Request):
                self._handshake(event)
        if conn.parser_exc is not None:
            self._failed()
            return
        output = conn.data_to_send()
        if output:
            self.transport.write(b"".join(output))
            if output[-1] == b"" and not self.transport.is_closing():
                self.transport.close()  # the core ended the stream (after a close frame)

    # uvicorn's server

    def shutdown(self) -> None:
        """The server stops: close 1012 (service restart), or 500 before the handshake."""
        self._stop_keepalive()
        if self.close_sent:
            self._cancel_close_timer()
        elif self.handshake_complete:
            self.queue.put_nowait({"type": "websocket.disconnect", "code": 1012})
            with contextlib.suppress(InvalidState):
                self.conn.send_close(1012)
            self.transport.write(b"".join(self.conn.data_to_send()))
        else:
            self._send_500()
        self.transport.close()

    # Receiving

    def _handshake(self, request: Request) -> None:
        response = self.conn.accept(request)
        if response.status_code != 101:
            self._refuse(response)
            return
        extensions = (HTTP_RESPONSE, SEND_BATCH)
        scope = asgi_scope(request, self.transport, self._config, self._app_state, extensions)
        self.scope, self.client = scope, scope["client"]
        self.upgrade = Upgrade(request, response, scope)
        self.queue.put_nowait({"type": "websocket.connect"})
        task = self.loop.create_task(self._run_asgi(scope))
        tasks = self._server_state.tasks
        task.add_done_callback(tasks.discard)
        tasks.add(task)

    def _frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            if frame.fin:
                self._message(opcode is Opcode.TEXT, frame.data)
            else:
                self._fragments = (opcode is Opcode.TEXT, [frame.data])
        elif opcode is Opcode.CONT and self._fragments is not None:
            text, fragments = self._fragments
            fragments.append(frame.data)
            if frame.fin:
                self._fragments = None
                self._message(text, b"".join(fragments))
        elif opcode is Opcode.PONG:
            if self._keepalive is not None:
                self._keepalive.pong(frame.data)
        elif opcode is Opcode.CLOSE:
            self._peer_closed()

    def _message(self, text: bool, data: _Data) -> None:
        if self.close_sent:
            return  # past websocket.close: read on until the peer's close, discarding
        if text:
            try:
                message: dict[str, Any] = {"type": "websocket.receive", "text": str(data, "utf-8")}
            except UnicodeDecodeError:
                client = self.client
                peer = f"{client[0]}:{client[1]}" if client else "unknown"
                logger.warning("closed peer=%s code=1007: text frame is not valid UTF-8", peer)
                self.conn.fail(CloseCode.INVALID_DATA, "invalid UTF-8")
                self._failed()
                return
        else:
            message = {"type": "websocket.receive", "bytes": data}
        self.queue.put_nowait(message)
        if not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()

    def _peer_closed(self) -> None:
        if self.close_sent:  # the peer answered our close: the handshake is complete
            self._cancel_close_timer()
            self.transport.close()
            return
        close = self.conn.close_rcvd
        if close is not None and not self.transport.is_closing():
            self.queue.put_nowait(
                {"type": "websocket.disconnect", "code": close.code, "reason": close.reason}
            )

    def _failed(self) -> None:
        """The core failed the connection (protocol error, 1007, 1009): tell the app, close."""
        close = self.conn.close_sent
        code = close.code if close is not None else 1006
        reason = close.reason if close is not None else ""
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.transport.close()

    async def receive(self) -> dict[str, Any]:
        """The next ASGI event; reading resumes once the application took every message."""
        message = await self.queue.get()
        if self.read_paused and self.queue.empty():
            self.read_paused = False
            self.transport.resume_reading()
        return message

    # Keepalive (see .ws_keepalive)

    def _start_keepalive(self) -> None:
        interval, timeout = self._config.ws_ping_interval, self._config.ws_ping_timeout
        if interval is not None and interval > 0:
            self._keepalive = Keepalive(
                self.conn, self.transport, interval=interval, timeout=timeout,
                on_timeout=self._timed_out,
            )  # fmt: skip
            self._keepalive.start()

    def _stop_keepalive(self) -> None:
        if self._keepalive is not None:
            self._keepalive.stop()
            self._keepalive = None

    def _timed_out(self) -> None:
        """The keepalive closed 1011: abort if that close does not finish in time."""
        self.close_sent = True
        if not self.disconnected:
            self._close_timer = self.loop.call_later(self.close_timeout_s, self._abort)

    # Sending

    async def _run_asgi(self, scope: dict[str, Any]) -> None:
        try:
            result = await self._config.loaded_app(scope, self.receive, self.send)
        except ClientDisconnected:
            pass
        except BaseException:
            logger.exception("exception in the ASGI application")
            self._send_500()
        else:
            if not self.handshake_complete:
                logger.error("ASGI application returned without completing the handshake")
                self._send_500()
            elif result is not None:
                logger.error("ASGI application returned %r instead of None", result)
        if self._close_timer is None:
            self.transport.close()

    async def send(self, message: dict[str, Any]) -> None:
        """Take an ASGI message from the application (see the module for what is added)."""
        kind = message["type"]
        if kind == "websocket.send" or kind == SEND_BATCH:
            await self._send_texts(message, kind)
        elif self.disconnected:
            raise ClientDisconnected()
        elif self.upgrade is not None:
            self._answer_upgrade(self.upgrade, message)
        elif kind == "websocket.close":
            self._close(message)
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r} at this stage")

    async def _send_texts(self, message: dict[str, Any], kind: str) -> None:
        if not self.writable.is_set():
            await self.writable.wait()
        if self.disconnected or self.close_sent:
            raise ClientDisconnected()
        if self.upgrade is not None:
            raise RuntimeError(f"ASGI message {kind!r} before websocket.accept")
        conn, text = self.conn, message.get("text")
        try:
            if (kind == SEND_BATCH or text is not None) and can_write_directly(conn):
                data = text_frames(message["texts"] if text is None else (text,))
            else:
                data = through_core(conn, message, batch=kind == SEND_BATCH)
        except InvalidState:
            raise ClientDisconnected() from None
        self.transport.write(data)
        if not self.writable.is_set():
            await self.writable.wait()  # set by resume_writing or by connection_lost
        if self.disconnected:
            raise ClientDisconnected()

    def _answer_upgrade(self, upgrade: Upgrade, message: dict[str, Any]) -> None:
        response = upgrade.answer(message, self._server_state.default_headers)
        if response is None:
            return  # an HTTP response under way
        if response.status_code != 101:
            self.queue.put_nowait({"type": "websocket.disconnect", "code": 1006})
            self._refuse(response)
            return
        self.upgrade = None
        if not self.transport.is_closing():
            self.handshake_complete = True
            self.conn.send_response(response)
            self.transport.write(b"".join(self.conn.data_to_send()))
            self._start_keepalive()

    def _refuse(self, response: Response) -> None:
        """Send an HTTP response instead of the upgrade, then close."""
        self.upgrade = None
        self.handshake_complete = self.close_sent = True
        self.conn.send_response(response)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.transport.close()

    def _send_500(self) -> None:
        if self.upgrade is not None and not self.upgrade.denying:
            self._refuse(plain_response(500, "Internal Server Error"))

    def _close(self, message: dict[str, Any]) -> None:
        """Queue the close frame behind the buffered data, then abort after the timeout."""
        if self.close_sent:  # by the application, or by this protocol (1007, 1009, 1011)
            raise ClientDisconnected()
        if self.transport.is_closing():
            return
        code = message.get("code", CloseCode.NORMAL_CLOSURE)
        reason = message.get("reason", "") or ""
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        try:
            self.conn.send_close(code, reason)
        except InvalidState:
            raise ClientDisconnected() from None
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        timeout = message.get("timeout") or self.close_timeout_s
        self._close_timer = self.loop.call_later(timeout, self._abort)

    def _cancel_close_timer(self) -> None:
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None

    def _abort(self) -> None:
        self._close_timer = None
        if not self.disconnected:
            logger.debug("aborted a connection whose close did not finish in time")
            self.transport.abort()
