"""The gateway's HTTP/1.1 protocol on the wire: framing, pipelining, failures, head bounds.

Served by uvicorn with the gateway's own protocols (``http=HttpProtocol``), spoken to over a
raw TCP socket so that every byte of the answer is seen.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from support.in_loop import loopback_socket, serve_in_loop
from support.waiting import eventually

from aiconexus_gateway.settings import Settings
from aiconexus_gateway.transport.http_protocol import MAX_HEAD_BYTES, HttpProtocol

TIMEOUT_S = 10.0


async def _echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answer ``<method> <path> <body>``; /stream in two chunks, /fail by raising."""
    body = b""
    while True:
        event = await receive()
        body += event.get("body", b"")
        if not event.get("more_body"):
            break
    if scope["path"] == "/fail":
        raise ValueError("the application failed")
    answer = f"{scope['method']} {scope['path']} ".encode() + body
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"one ", "more_body": True})
        await send({"type": "http.response.body", "body": b"two"})
        return
    headers = [(b"content-length", str(len(answer)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": answer})


@asynccontextmanager
async def _serving() -> AsyncIterator[int]:
    """The echo application served with the gateway's HTTP protocol; yields the port."""
    sock = loopback_socket()
    config = uvicorn.Config(_echo, http=HttpProtocol, ws="none", lifespan="off", log_config=None)
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await eventually(lambda: server.started, within=TIMEOUT_S)
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, TIMEOUT_S)
        sock.close()


async def _exchange(port: int, *writes: bytes) -> bytes:
    """Write each piece (the server's 100 Continue awaited between pieces), read to the end."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(writes[0])
        for piece in writes[1:]:
            assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT_S) == (
                b"HTTP/1.1 100 Continue\r\n\r\n"
            )
            writer.write(piece)
        return await asyncio.wait_for(reader.read(), TIMEOUT_S)
    finally:
        writer.close()


async def test_pipelined_requests_are_answered_in_order() -> None:
    """Three requests in one write: three answers in their order, the last one closes."""
    requests = b"".join(
        f"POST /{name} HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n{extra}\r\n{name}".encode()
        for name, extra in (("a", ""), ("b", ""), ("c", "Connection: close\r\n"))
    )
    async with _serving() as port:
        answer = await _exchange(port, requests)
    assert answer.count(b"HTTP/1.1 200 OK") == 3
    bodies = [part.rsplit(b"\r\n\r\n", 1)[-1] for part in answer.split(b"HTTP/1.1 200 OK")[1:]]
    assert bodies == [b"POST /a a", b"POST /b b", b"POST /c c"]
    assert answer.endswith(b"POST /c c") and b"connection: close" in answer


async def test_a_chunked_body_after_100_continue_and_a_chunked_answer() -> None:
    """Expect: 100-continue is answered before the body; a body without length is chunked."""
    head = (
        b"POST /stream HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Expect: 100-continue\r\nConnection: close\r\n\r\n"
    )
    async with _serving() as port:
        answer = await _exchange(port, head, b"3\r\nabc\r\n0\r\n\r\n")
    assert b"transfer-encoding: chunked" in answer
    assert answer.endswith(b"\r\n\r\n4\r\none \r\n3\r\ntwo\r\n0\r\n\r\n")


async def test_http_1_0_closes_and_a_failure_is_a_500() -> None:
    """An HTTP/1.0 request is answered then closed; a failing application gives a plain 500."""
    async with _serving() as port:
        answer = await _exchange(port, b"GET /x?q=1 HTTP/1.0\r\n\r\n")
        failed = await _exchange(port, b"GET /fail HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and b"connection: close" in answer
    assert answer.endswith(b"GET /x ")
    assert failed.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert failed.endswith(b"\r\n\r\nInternal Server Error")


async def test_garbage_is_a_400() -> None:
    """What is not HTTP is answered 400 and the connection closed."""
    async with _serving() as port:
        answer = await _exchange(port, b"NOT HTTP AT ALL\x00\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert answer.endswith(b"Invalid HTTP request received.")


async def test_a_request_head_past_its_bound_is_431() -> None:
    """A head larger than the bound is refused 431 and closed, not buffered for ever."""
    async with serve_in_loop(Settings()) as served:
        header = b"X-Big: " + b"a" * 8000 + b"\r\n"
        count = MAX_HEAD_BYTES // len(header) + 2
        answer = await _exchange(served.port, b"GET /health HTTP/1.1\r\n" + header * count)
    assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
