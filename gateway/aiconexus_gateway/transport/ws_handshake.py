"""The opening handshake of a WebSocket, as ASGI sees it: scope in, HTTP responses out.

I/O-free helpers of :mod:`.ws_protocol`: the ASGI ``websocket`` scope built from the request
that websockets' sans-I/O ``ServerProtocol`` parsed, the headers an application adds to the
101 response when it accepts, and the HTTP responses that refuse a connection (the ASGI
``websocket.http.response`` extension, or a plain 403 for a close before accept).
"""

from __future__ import annotations

import email.utils
from asyncio import BaseTransport
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from websockets.datastructures import Headers
from websockets.http11 import Request, Response

__all__ = ["HTTP_RESPONSE", "Address", "Upgrade", "asgi_scope", "plain_response"]

HTTP_RESPONSE = "websocket.http.response"
"""The ASGI extension that lets an application answer the upgrade with an HTTP response."""

Address = tuple[str, int]
"""A host and port, as ASGI scopes carry them."""


def _address(transport: BaseTransport, name: str) -> Address | None:
    info = transport.get_extra_info(name)
    if isinstance(info, tuple) and len(info) >= 2:
        return str(info[0]), int(info[1])
    return None  # a Unix socket


def asgi_scope(
    request: Request,
    transport: BaseTransport,
    config: Any,
    state: Mapping[str, Any],
    extensions: Iterable[str],
) -> dict[str, Any]:
    """The ASGI ``websocket`` scope (spec 2.4) of ``request`` received on ``transport``.

    ``config`` is uvicorn's (its ``root_path`` and ``asgi_version``), ``state`` the lifespan
    state (copied). Header values are the bytes received: websockets (17+) decodes them as
    ISO-8859-1, its earlier releases with surrogate escapes; encoding with both undoes either.
    """
    headers = [
        (name.lower().encode("ascii"), value.encode("latin-1", "surrogateescape"))
        for name, value in request.headers.raw_items()
    ]
    raw_path, _, query = request.path.partition("?")
    subprotocols = [
        token.strip()
        for header in request.headers.get_all("Sec-WebSocket-Protocol")
        for token in header.split(",")
    ]
    root_path: str = config.root_path
    return {
        "type": "websocket",
        "asgi": {"version": config.asgi_version, "spec_version": "2.4"},
        "http_version": "1.1",
        "scheme": "wss" if transport.get_extra_info("sslcontext") is not None else "ws",
        "server": _address(transport, "sockname"),
        "client": _address(transport, "peername"),
        "root_path": root_path,
        "path": root_path + unquote(raw_path),
        "raw_path": root_path.encode("ascii") + raw_path.encode("ascii"),
        "query_string": query.encode("ascii"),
        "headers": headers,
        "subprotocols": subprotocols,
        "state": dict(state),
        "extensions": {name: {} for name in extensions},
    }


def plain_response(status: int, text: str) -> Response:
    """A short plain-text HTTP response that refuses an upgrade (and closes the connection)."""
    body = text.encode()
    headers = Headers(
        [
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Connection", "close"),
            ("Content-Length", str(len(body))),
            ("Content-Type", "text/plain; charset=utf-8"),
        ]
    )
    return Response(status, HTTPStatus(status).phrase, headers, body)


class Upgrade:
    """An upgrade request waiting for the application's answer: accept, close, or HTTP.

    Holds the request, its ASGI scope and the prepared 101 response until the application
    answers (:meth:`answer` says what to send); the connection drops it then.
    """

    __slots__ = ("_denial", "_request", "_response", "_scope")

    def __init__(self, request: Request, response: Response, scope: dict[str, Any]) -> None:
        self._request = request
        self._response = response
        self._scope = scope
        self._denial: tuple[int, list[tuple[bytes, bytes]], bytes] | None = None

    @property
    def denying(self) -> bool:
        """True once the application started an HTTP response instead of accepting."""
        return self._denial is not None

    def answer(
        self, message: Mapping[str, Any], default_headers: Iterable[tuple[bytes, bytes]]
    ) -> Response | None:
        """The response to send for the application's ``message`` (None: not yet).

        101 when it accepts, 403 when it closes, its own HTTP response once complete (None
        while that response is under way). RuntimeError for a message that has no place
        here, ValueError for a status code that is not HTTP's.
        """
        kind = message["type"]
        if self._denial is None:
            if kind == "websocket.accept":
                return self._accept(message, default_headers)
            if kind == "websocket.close":
                return plain_response(403, "")
            if kind == "websocket.http.response.start":
                status = int(message["status"])
                if not 100 <= status < 600:
                    raise ValueError(f"invalid HTTP status code {status} in a denial response")
                self._denial = (status, list(message.get("headers", ())), b"")
                return None
        elif kind == "websocket.http.response.body":
            return self._denial_body(message)
        raise RuntimeError(f"unexpected ASGI message {kind!r} during the opening handshake")

    def _accept(
        self, message: Mapping[str, Any], default_headers: Iterable[tuple[bytes, bytes]]
    ) -> Response:
        """The 101 response, with the server's headers, then the application's.

        What only the handshake needed is let go (a few kB per connection): websockets'
        parser keeps the request alive until the connection ends, so its headers are emptied
        rather than only dereferenced; the scope's header list goes too (an application reads
        headers before it accepts).
        """
        response = self._response
        del response.headers["Date"]
        response.headers.update(
            (name.decode("latin-1").lower(), value.decode("latin-1"))
            for name, value in [*default_headers, *message.get("headers", ())]
        )
        if subprotocol := message.get("subprotocol"):
            response.headers["Sec-WebSocket-Protocol"] = subprotocol
        self._request.headers.clear()
        self._scope["headers"] = []
        return response

    def _denial_body(self, message: Mapping[str, Any]) -> Response | None:
        assert self._denial is not None
        status, headers, body = self._denial
        body += message.get("body", b"")
        self._denial = (status, headers, body)
        if message.get("more_body", False):
            return None
        fields = Headers(
            [(name.decode("latin-1"), value.decode("latin-1")) for name, value in headers]
        )
        fields.setdefault("Date", email.utils.formatdate(usegmt=True))
        fields.setdefault("Connection", "close")
        fields.setdefault("Content-Length", str(len(body)))
        fields.setdefault("Content-Type", "text/plain; charset=utf-8")
        phrase = HTTPStatus(status).phrase if status in _KNOWN else ""
        return Response(status, phrase, fields, body)


_KNOWN = {status.value for status in HTTPStatus}
