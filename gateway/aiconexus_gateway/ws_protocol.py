"""uvicorn's ``websockets-sansio`` WebSocket protocol, plus one ASGI extension: batched sends.

A ``{"type": "websocket.send.batch", "texts": [...]}`` message writes several text frames
with a single socket write (one system call instead of one per frame). The extension is
announced in ``scope["extensions"]`` as :data:`SEND_BATCH`; the gateway falls back to one
``websocket.send`` per frame when it runs under a server without it.

Text sends (single or batched) return only once the transport's user-space buffer is empty,
i.e. the frame's bytes are in the kernel: the write buffer's high-water mark is 0, so
``pause_writing`` fires whenever data stays buffered and ``resume_writing`` once it is flushed.
A send whose connection is lost before that raises ``ClientDisconnected``. For a client
without recipient acknowledgements the gateway's "delivered" ACK follows such a return (the
kernel may still drop what it holds when it resets the connection of a killed process); a
client with recipient acknowledgements gets "delivered" only once the recipient acknowledged
the frame, which no crash of the gateway can undo.

Closing never waits behind a peer that stopped reading: the close frame is queued behind what
is already buffered at once (a peer that resumes reading sees its frames, then the close
code), and the connection is aborted when the closing handshake has not finished within
the message's ``"timeout"`` (seconds; the gateway passes CLOSE_TIMEOUT, default
:attr:`BatchingWebSocketProtocol.close_timeout_s`), so that the frames being written are
resolved promptly.

The subclass reads and sets internals of uvicorn's protocol, listed in
:data:`UVICORN_INTERNALS`; gateway/pyproject.toml bounds uvicorn to the releases whose
protocol has them all (a test checks the list against a live connection).
"""

from __future__ import annotations

import logging
from asyncio import AbstractEventLoop, BaseTransport
from typing import Any, ClassVar

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState
from websockets.http11 import Request

from aiconexus.protocol import CloseCode

from .lean import LeanEvent, LeanQueue

__all__ = ["SEND_BATCH", "UVICORN_INTERNALS", "BatchingWebSocketProtocol"]

logger = logging.getLogger("aiconexus.gateway")

CLOSE_INVALID_DATA = CloseCode.INVALID_DATA
"""Close code for a text frame that is not valid UTF-8 (RFC 6455)."""

SEND_BATCH = "websocket.send.batch"
"""The ASGI message type (and scope extension name) of a batched send."""

UVICORN_INTERNALS = (
    # attributes of uvicorn's WebSocketsSansIOProtocol read or set here
    "conn", "transport", "loop", "queue", "writable", "client", "scope", "request",
    "response", "frames", "curr_msg_data_type", "handshake_complete", "initial_response",
    "close_sent", "close_timer", "close_timeout", "disconnected", "read_paused",
    # its methods extended here
    "connection_made", "keepalive_timeout", "handle_connect", "send_receive_event_to_app",
    "handle_parser_exception", "send",
)  # fmt: skip
"""What this module relies on in uvicorn's protocol (none of it is uvicorn's public API)."""


class BatchingWebSocketProtocol(WebSocketsSansIOProtocol):
    """The sans-I/O protocol of uvicorn that also accepts ``websocket.send.batch``.

    Lighter per connection than uvicorn's: its receive queue and ``writable`` event are
    :mod:`.lean` ones, and the handshake's request, response and header list are let go once
    the connection is accepted (nothing reads them afterwards).
    """

    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.queue = LeanQueue()  # type: ignore[assignment]
        self.writable = LeanEvent()  # type: ignore[assignment]
        self.writable.set()

    close_timeout_s: ClassVar[float] = 5.0
    """Seconds a closing handshake may take before the connection is aborted."""

    def connection_made(self, transport: BaseTransport) -> None:
        """As uvicorn, then make the transport report any data left in its buffer."""
        super().connection_made(transport)
        self.close_timeout = self.close_timeout_s
        self.transport.set_write_buffer_limits(high=0)

    def keepalive_timeout(self) -> None:
        """As uvicorn (close 1011), but abort if the buffer has not drained in time."""
        super().keepalive_timeout()
        if not self.disconnected and self.close_timer is None:
            self.close_timer = self.loop.call_later(self.close_timeout, self._abort)

    def _abort(self) -> None:
        self.close_timer = None
        if not self.disconnected:
            logger.debug("aborted a connection whose close did not finish in time")
            self.transport.abort()

    def _close_now(self, message: Any) -> None:
        """Queue the close frame behind the buffered data, then abort after the timeout."""
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
        timeout = message.get("timeout") or self.close_timeout
        self.close_timer = self.loop.call_later(timeout, self._abort)

    def handle_connect(self, event: Request) -> None:
        """As uvicorn, then announce the batch extension in the scope."""
        super().handle_connect(event)
        scope: Any = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][SEND_BATCH] = {}

    def send_receive_event_to_app(self) -> None:
        """As uvicorn, but a text frame that is not UTF-8 is closed 1007 with one log line.

        (uvicorn logs the decoding error with a full traceback; a peer's bad frame is not
        a fault of the server.)
        """
        if self.curr_msg_data_type != "text" or self.close_sent:
            super().send_receive_event_to_app()
            return
        frames = self.frames
        data = frames[0] if len(frames) == 1 else b"".join(frames)
        self.frames = []
        try:
            text = data.decode()
        except UnicodeDecodeError:
            client = self.client
            peer = f"{client[0]}:{client[1]}" if client else "unknown"
            logger.warning("closed peer=%s code=1007: text frame is not valid UTF-8", peer)
            self.conn.send_close(CLOSE_INVALID_DATA, "invalid UTF-8")
            self.handle_parser_exception()
            return
        self.queue.put_nowait({"type": "websocket.receive", "text": text})
        if not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()

    async def send(self, message: Any) -> None:
        """Write a batch of text frames at once; anything else as uvicorn does.

        Text frames (batched or not) return once flushed to the kernel (see the module).
        """
        kind = message["type"]
        if (
            kind == "websocket.close"
            and self.handshake_complete
            and self.initial_response is None
            and not self.close_sent
            and not self.disconnected
            and not self.transport.is_closing()
        ):
            self._close_now(message)
            return
        if kind != SEND_BATCH:
            await super().send(message)
            if kind == "websocket.send":
                await self._flushed()
            elif kind == "websocket.accept":
                self._forget_handshake()
            return
        await self.writable.wait()
        if self.disconnected or self.close_sent:
            raise ClientDisconnected()
        try:
            for text in message["texts"]:
                self.conn.send_text(text.encode())
        except InvalidState:
            raise ClientDisconnected() from None
        self.transport.write(b"".join(self.conn.data_to_send()))
        await self._flushed()

    def _forget_handshake(self) -> None:
        """Let go of what only the opening handshake needed (a few kB per connection).

        websockets' parser keeps the request alive until the connection ends, so its headers
        are emptied rather than only dereferenced.
        """
        for message in (getattr(self, "request", None), getattr(self, "response", None)):
            if message is not None:
                message.headers.clear()
        self.request = None  # type: ignore[assignment]
        self.response = None  # type: ignore[assignment]
        scope: Any = getattr(self, "scope", None)
        if scope is not None:
            scope["headers"] = []

    async def _flushed(self) -> None:
        """Wait until the transport's buffer is empty; ClientDisconnected if the peer is gone."""
        if not self.writable.is_set():
            await self.writable.wait()  # set by resume_writing or by connection_lost
        if self.disconnected:
            raise ClientDisconnected()
