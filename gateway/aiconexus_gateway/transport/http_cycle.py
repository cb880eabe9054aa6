"""One HTTP/1.1 request and its response, as ASGI sees them: ``receive`` and ``send``.

Used by :mod:`.http_protocol`, which parses the request head and feeds the body in; this
module writes the response's bytes: the status line, the server's default headers then the
application's (names and values checked), ``Content-Length`` framing when the application
gives one, chunked transfer otherwise (none for ``HEAD``, 204 and 304), ``Connection: close``
when the connection ends after the response, and ``100 Continue`` when the client asked for
it and the application reads the body. An application that fails before it answers gets a
plain 500; one that fails or stops mid-answer has its connection closed.
"""

from __future__ import annotations

import asyncio
import http
import logging
import re
from collections.abc import MutableMapping
from typing import Any, Protocol

from aiconexus_gateway.lean import LeanEvent

from .asgi import ASGIApp

__all__ = ["STATUS_LINES", "Connection", "RequestCycle", "status_line"]

logger = logging.getLogger("uvicorn.error")

_BAD_NAME = re.compile(b'[\x00-\x1f\x7f()<>@,;:\\[\\]={} \t\\\\"]')
_BAD_VALUE = re.compile(b"[\x00-\x08\x0a-\x1f\x7f]")
_NO_BODY_STATUSES = (204, 304)
_SERVER_ERROR = b"Internal Server Error"


def status_line(status: int) -> bytes:
    """The status line of ``status`` (an empty reason phrase for a status HTTP does not name)."""
    try:
        phrase = http.HTTPStatus(status).phrase.encode()
    except ValueError:
        phrase = b""
    return b"HTTP/1.1 %d %s\r\n" % (status, phrase)


STATUS_LINES = {status: status_line(status) for status in range(100, 600)}
"""Every status line, built once."""


class Connection(Protocol):
    """What a request cycle needs of its connection (:class:`.http_protocol.HttpProtocol`)."""

    async def drain(self) -> None:
        """Return once the peer reads what was written (at once unless writing is paused)."""

    def resume_reading(self) -> None:
        """Read more of the request (the application waits for its body)."""

    def response_complete(self) -> None:
        """The response was written in full: the connection goes on to the next request."""


class RequestCycle:
    """The ASGI ``receive``/``send`` of one request on ``connection``.

    The connection appends body bytes to :attr:`body` and sets :attr:`more_body` to False
    when the request is complete (:meth:`body_received`, :meth:`request_complete`), and marks
    the cycle :attr:`disconnected` when the peer leaves before the response is complete.
    """

    __slots__ = (
        "_chunked", "_connection", "_default_headers", "_left", "_transport", "_wants_continue",
        "body",
        "disconnected", "keep_alive", "message_event", "more_body", "response_complete",
        "response_started", "scope",
    )  # fmt: skip

    def __init__(
        self,
        connection: Connection,
        transport: asyncio.WriteTransport,
        scope: dict[str, Any],
        *,
        default_headers: list[tuple[bytes, bytes]],
        keep_alive: bool,
        expect_100_continue: bool,
    ) -> None:
        self._connection = connection
        self._transport = transport
        self.scope = scope
        self._default_headers = default_headers
        self.keep_alive = keep_alive
        self._wants_continue = expect_100_continue
        self.message_event = LeanEvent()
        self.body = bytearray()
        self.more_body = True
        self.disconnected = self.response_started = self.response_complete = False
        self._chunked: bool | None = None
        self._left = 0  # bytes of the body still due under Content-Length

    def body_received(self, data: bytes) -> None:
        """A piece of the request body arrived."""
        self.body += data
        self.message_event.set()

    def request_complete(self) -> None:
        """The request body is complete."""
        self.more_body = False
        self.message_event.set()

    def lost(self) -> None:
        """The connection is gone: ``receive`` answers ``http.disconnect``, sends are dropped."""
        if not self.response_complete:
            self.disconnected = True
        self.message_event.set()

    async def run(self, app: ASGIApp) -> None:
        """Run ``app`` for this request; answer 500 or close if it fails."""
        try:
            result = await app(self.scope, self.receive, self.send)
        except BaseException:
            logger.exception("exception in the ASGI application")
            if not self.response_started:
                await self._send_500()
            else:
                self._transport.close()
        else:
            if result is not None:
                logger.error("ASGI application returned %r instead of None", result)
                self._transport.close()
            elif not self.response_started and not self.disconnected:
                logger.error("ASGI application returned without starting a response")
                await self._send_500()
            elif not self.response_complete and not self.disconnected:
                logger.error("ASGI application returned without completing its response")
                self._transport.close()

    async def _send_500(self) -> None:
        headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", b"%d" % len(_SERVER_ERROR)),
            (b"connection", b"close"),
        ]
        await self.send({"type": "http.response.start", "status": 500, "headers": headers})
        await self.send({"type": "http.response.body", "body": _SERVER_ERROR})

    async def receive(self) -> dict[str, Any]:
        """The next piece of the request body, or ``http.disconnect`` once it is over."""
        if self._wants_continue and not self._transport.is_closing():
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self._wants_continue = False
        if not self.disconnected and not self.response_complete:
            self._connection.resume_reading()
            await self.message_event.wait()
            self.message_event.clear()
        if self.disconnected or self.response_complete:
            return {"type": "http.disconnect"}
        message = {"type": "http.request", "body": bytes(self.body), "more_body": self.more_body}
        self.body.clear()
        return message

    async def send(self, message: MutableMapping[str, Any]) -> None:
        """Write the response's head or a piece of its body."""
        await self._connection.drain()
        if self.disconnected:
            return
        kind = message["type"]
        if not self.response_started:
            if kind != "http.response.start":
                raise RuntimeError(f"expected 'http.response.start', got {kind!r}")
            self.response_started = True
            self._wants_continue = False
            self._transport.write(self._head(int(message["status"]), message.get("headers", ())))
        elif not self.response_complete:
            if kind != "http.response.body":
                raise RuntimeError(f"expected 'http.response.body', got {kind!r}")
            self._body(message.get("body", b""), message.get("more_body", False))
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r} after the response")

    def _head(self, status: int, headers: Any) -> bytes:
        parts = [STATUS_LINES.get(status) or status_line(status)]
        closes = False
        for name, value in (*self._default_headers, *headers):
            if _BAD_NAME.search(name):
                raise RuntimeError("invalid HTTP header name")
            if _BAD_VALUE.search(value):
                raise RuntimeError("invalid HTTP header value")
            name = name.lower()
            if name == b"content-length" and self._chunked is None:
                self._left = int(value)
                self._chunked = False
            elif name == b"transfer-encoding" and value.lower() == b"chunked":
                self._left = 0
                self._chunked = True
            elif name == b"connection" and b"close" in [
                token.strip().lower() for token in value.split(b",")
            ]:
                self.keep_alive = False
                closes = True
            parts += (name, b": ", value, b"\r\n")
        if not self.keep_alive and not closes:
            parts.append(b"connection: close\r\n")
        if (
            self._chunked is None
            and self.scope["method"] != "HEAD"
            and status not in _NO_BODY_STATUSES
        ):
            self._chunked = True
            parts.append(b"transfer-encoding: chunked\r\n")
        parts.append(b"\r\n")
        return b"".join(parts)

    def _body(self, body: bytes, more_body: bool) -> None:
        transport = self._transport
        if self.scope["method"] == "HEAD":
            self._left = 0
        elif self._chunked:
            chunk = b"%x\r\n%s\r\n" % (len(body), body) if body else b""
            if not more_body:
                chunk += b"0\r\n\r\n"
            if chunk:
                transport.write(chunk)
        else:
            if len(body) > self._left:
                raise RuntimeError("response body longer than its Content-Length")
            self._left -= len(body)
            if body:
                transport.write(body)
        if more_body:
            return
        if self._left != 0:
            raise RuntimeError("response body shorter than its Content-Length")
        self.response_complete = True
        self.message_event.set()
        if not self.keep_alive:
            transport.close()
        self._connection.response_complete()
