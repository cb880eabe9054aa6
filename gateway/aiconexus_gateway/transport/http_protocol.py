"""The gateway's HTTP/1.1 server protocol: httptools' parser pumped by asyncio for ASGI.

uvicorn takes this class as its ``http`` implementation and constructs it for each TCP
connection with its ``config``, ``server_state`` and ``app_state``, as it does the WebSocket
protocol (what is read of them is listed in :data:`UVICORN_INTERFACE`; no class or function
of uvicorn is used). The request head is parsed by httptools' public ``HttpRequestParser``;
each request runs the ASGI application in a :class:`.http_cycle.RequestCycle`; a WebSocket
upgrade hands the connection to :class:`.ws_protocol.BatchingWebSocketProtocol`. Requests
pipelined behind one being answered wait their turn; an idle kept-alive connection is
closed after uvicorn's ``timeout_keep_alive``.

Guards of the gateway (:mod:`.http_guard`), at the moments that matter (connection made,
head complete, response complete, upgrade, close):

- A deadline for the request head: armed when the connection is made and again after each
  response, it closes a connection that sent no complete head within ``HANDSHAKE_TIMEOUT``
  seconds (one byte at a time, or nothing at all), which would otherwise stay open for ever,
  invisible to ``MAX_CONNECTIONS`` and to ``/health``. After an upgrade the gateway's own
  REGISTER deadline (``CONNECTION_TIMEOUT``) takes over.
- A bound on the head's size (:data:`MAX_HEAD_BYTES`): a larger head is answered 431.
- Per-address counts (:class:`.iplimits.IpLimits`): a connection counts against its peer's
  address from the moment it is made until its request head is complete (one over the
  address's limit is closed at once), and in ``tcp_pending`` until it is upgraded or closed.
  Once the head is complete the request counts against the HTTP budgets of the address it
  names (:mod:`.http_budget`), a WebSocket against the WebSocket ones; a kept-alive
  connection waiting for its next head counts per address again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any, cast
from urllib.parse import unquote

import httptools

from aiconexus_gateway.lean import LeanEvent

from .asgi import ASGIApp
from .http_cycle import STATUS_LINES, RequestCycle
from .http_guard import HeadGuard, limits_of, report
from .ws_handshake import Address
from .ws_protocol import BatchingWebSocketProtocol

__all__ = ["MAX_HEAD_BYTES", "UVICORN_INTERFACE", "HttpProtocol"]

logger = logging.getLogger("aiconexus.gateway")

MAX_HEAD_BYTES = 64 * 1024
"""The largest request head (request line and headers) read; a larger one is answered 431."""

BODY_HIGH_WATER = 64 * 1024
"""Request body bytes buffered for the application before reading pauses."""

UVICORN_INTERFACE = {
    "config": ("loaded_app", "root_path", "asgi_version", "timeout_keep_alive"),
    "server_state": ("connections", "tasks", "default_headers", "total_requests"),
}
"""What this module reads of the ``config`` and ``server_state`` uvicorn constructs it with
(and passes on to the WebSocket protocol, see :data:`.ws_protocol.UVICORN_INTERFACE`)."""


class _HeadTooLarge(Exception):
    """The request head grew past MAX_HEAD_BYTES (raised from a parser callback)."""


def _address(transport: asyncio.BaseTransport, name: str) -> Address | None:
    info = transport.get_extra_info(name)
    if isinstance(info, tuple) and len(info) >= 2:
        return str(info[0]), int(info[1])
    return None  # a Unix socket


class HttpProtocol(asyncio.Protocol):
    """One HTTP/1.1 connection: request heads parsed, ASGI cycles run, guards kept.

    httptools calls the ``on_*`` methods while :meth:`data_received` feeds it.
    """

    __slots__ = (
        "_app", "_app_state", "_config", "_cycle", "_guard", "_head_size", "_headers", "_idle",
        "_parser", "_pipeline", "_read_paused", "_scheme", "_scope", "_server_state",
        "_upgrading", "_url", "_wants_continue", "_writable", "client", "loop", "server",
        "transport",
    )  # fmt: skip

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
        self._app: ASGIApp = config.loaded_app
        self.loop = _loop or asyncio.get_running_loop()
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.client: Address | None = None
        self.server: Address | None = None
        self._parser = httptools.HttpRequestParser(self)
        # A response may be sent to the first of pipelined requests after "Connection: close".
        self._parser.set_dangerous_leniencies(lenient_data_after_close=True)
        self._writable = LeanEvent()
        self._writable.set()
        self._read_paused = self._upgrading = self._wants_continue = False
        self._cycle: RequestCycle | None = None
        self._pipeline: deque[RequestCycle] = deque()
        self._scope: dict[str, Any] = {}
        self._headers: list[tuple[bytes, bytes]] = []
        self._url = b""
        self._head_size = 0
        self._idle: asyncio.TimerHandle | None = None  # timeout_keep_alive
        self._guard: HeadGuard | None = None
        self._scheme = "http"

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Join the server's connections; count the connection (or refuse it); arm the deadline."""
        self._server_state.connections.add(self)
        self.transport = transport = cast(asyncio.Transport, transport)  # uvloop's: no subclass
        self.client = _address(transport, "peername")
        self.server = _address(transport, "sockname")
        self._scheme = "https" if transport.get_extra_info("sslcontext") else "http"
        limits, timeout = limits_of(self._app)
        ip = self.client[0] if self.client else "unknown"
        self._guard = HeadGuard(limits, timeout, ip, self._expired)
        if not self._guard.opened():
            transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        """The running request sees a disconnect; stop counting the connection."""
        self._server_state.connections.discard(self)
        if self._guard is not None:
            self._guard.closed()
        self._cancel_idle()
        cycle = self._cycle
        if cycle is not None:
            cycle.lost()
        self._writable.set()
        if exc is None:
            self.transport.close()

    def eof_received(self) -> None:
        """The peer half-closed: the transport closes (the disconnect follows)."""

    def pause_writing(self) -> None:
        """The transport's buffer is full: sends wait."""
        self._writable.clear()

    def resume_writing(self) -> None:
        """The buffer drained."""
        self._writable.set()

    def data_received(self, data: bytes) -> None:
        """Feed the parser; a WebSocket upgrade hands the connection on."""
        self._cancel_idle()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            if self._upgrading:
                self._to_websocket(data[int(upgrade.args[0]) :] if upgrade.args else b"")
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _HeadTooLarge):  # raised by a callback
                self._refuse(431, "Request Header Fields Too Large")
            else:
                logger.debug("invalid HTTP request received: %s", exc)
                self._refuse(400, "Invalid HTTP request received.")

    # uvicorn's server

    def shutdown(self) -> None:
        """The server stops: close now if idle, else after the response under way."""
        cycle = self._cycle
        if cycle is None or cycle.response_complete:
            self.transport.close()
        else:
            cycle.keep_alive = False

    # The RequestCycle's connection (.http_cycle.Connection)

    async def drain(self) -> None:
        """Return once the transport's buffer is below its high-water mark."""
        if not self._writable.is_set():
            await self._writable.wait()

    def resume_reading(self) -> None:
        """Read on (the application waits for more of the request)."""
        if self._read_paused:
            self._read_paused = False
            self.transport.resume_reading()

    def _pause_reading(self) -> None:
        if not self._read_paused:
            self._read_paused = True
            self.transport.pause_reading()

    def response_complete(self) -> None:
        """Start the next pipelined request, or wait for one (counted, and timed)."""
        self._server_state.total_requests += 1
        transport = self.transport
        if transport.is_closing():
            return
        if self._guard is not None and not self._guard.next_head():
            transport.close()  # the address is at its limit of connections sending a head
            return
        self.resume_reading()
        if self._pipeline:
            self._start(self._pipeline.popleft())
        else:
            self._cancel_idle()
            self._idle = self.loop.call_later(self._config.timeout_keep_alive, self._idle_out)

    # httptools' callbacks

    def on_message_begin(self) -> None:
        """A request starts."""
        self._url = b""
        self._head_size = 0
        self._wants_continue = False
        self._headers = []
        self._scope = {
            "type": "http",
            "asgi": {"version": self._config.asgi_version, "spec_version": "2.3"},
            "http_version": "1.1",
            "server": self.server,
            "client": self.client,
            "scheme": self._scheme,
            "root_path": self._config.root_path,
            "headers": self._headers,
            "state": self._app_state.copy(),
        }

    def on_url(self, url: bytes) -> None:
        """A piece of the request target."""
        self._grow(len(url))
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        """One header (its value without the trailing white space llhttp keeps)."""
        self._grow(len(name) + len(value) + 4)
        name = name.lower()
        value = value.rstrip(b" \t")
        if name == b"expect" and value.lower() == b"100-continue":
            self._wants_continue = True
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        """The head is complete: the address's head count lets go; the request is served."""
        if self._guard is not None:
            self._guard.head_done()
        parser, scope = self._parser, self._scope
        scope["method"] = parser.get_method().decode("ascii")
        version = parser.get_http_version()
        if version != "1.1":
            scope["http_version"] = version
        if parser.should_upgrade() and self._upgrade_token() == b"websocket":
            self._upgrading = True
            return
        url = httptools.parse_url(self._url)
        raw_path: bytes = url.path
        path = raw_path.decode("ascii")
        if "%" in path:
            path = unquote(path)
        root_path: str = self._config.root_path
        scope["path"] = root_path + path
        scope["raw_path"] = root_path.encode("ascii") + raw_path
        scope["query_string"] = url.query or b""
        cycle = RequestCycle(
            self,
            self.transport,
            scope,
            default_headers=self._server_state.default_headers,
            keep_alive=version != "1.0" and parser.should_keep_alive(),
            expect_100_continue=self._wants_continue,
        )
        running = self._cycle
        if running is None or running.response_complete:
            self._start(cycle)
        else:  # pipelined behind the request being answered
            self._pause_reading()
            self._pipeline.append(cycle)

    def on_body(self, body: bytes) -> None:
        """A piece of the request body (bounded: reading pauses past BODY_HIGH_WATER)."""
        cycle = self._pipeline[-1] if self._pipeline else self._cycle
        if self._upgrading or cycle is None or cycle.response_complete:
            return
        cycle.body_received(body)
        if len(cycle.body) > BODY_HIGH_WATER:
            self._pause_reading()

    def on_message_complete(self) -> None:
        """The request is complete."""
        cycle = self._pipeline[-1] if self._pipeline else self._cycle
        if self._upgrading or cycle is None or cycle.response_complete:
            return
        cycle.request_complete()

    # Requests

    def _start(self, cycle: RequestCycle) -> None:
        self._cycle = cycle
        task = self.loop.create_task(cycle.run(self._app))
        tasks = self._server_state.tasks
        task.add_done_callback(tasks.discard)
        tasks.add(task)

    def _grow(self, size: int) -> None:
        self._head_size += size
        if self._head_size > MAX_HEAD_BYTES:
            raise _HeadTooLarge()

    def _upgrade_token(self) -> bytes | None:
        connection: list[bytes] = []
        upgrade = None
        for name, value in self._headers:
            if name == b"connection":
                connection = [token.lower().strip() for token in value.split(b",")]
            elif name == b"upgrade":
                upgrade = value.lower()
        return upgrade if b"upgrade" in connection else None

    def _to_websocket(self, rest: bytes) -> None:
        """Hand the connection to the WebSocket protocol, with the head it has to parse."""
        self._server_state.connections.discard(self)
        if self._guard is not None:
            self._guard.closed()
        head = [self._scope["method"].encode(), b" ", self._url, b" HTTP/1.1\r\n"]
        for name, value in self._headers:
            head += (name, b": ", value, b"\r\n")
        head.append(b"\r\n")
        protocol = BatchingWebSocketProtocol(self._config, self._server_state, self._app_state)
        protocol.connection_made(self.transport)
        self.transport.set_protocol(protocol)
        protocol.data_received(b"".join(head) + rest)

    def _refuse(self, status: int, text: str) -> None:
        """Answer a request that cannot be served (400, 431), then close."""
        body = text.encode("ascii")
        head = [STATUS_LINES[status]]
        head += (b"%s: %s\r\n" % header for header in self._server_state.default_headers)
        head.append(b"content-type: text/plain; charset=utf-8\r\n")
        head.append(b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body))
        self.transport.write(b"".join(head) + body)
        self.transport.close()

    def _expired(self) -> None:
        """No request head in time: abort, unless a request is being answered."""
        cycle = self._cycle
        if (cycle is None or cycle.response_complete) and not self.transport.is_closing():
            report("timeout")
            self.transport.abort()

    def _cancel_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    def _idle_out(self) -> None:
        self._idle = None
        if not self.transport.is_closing():
            self.transport.close()
