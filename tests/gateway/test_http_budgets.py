"""Event streams and plain HTTP have per-address budgets of their own.

An address holding many ``/status/events`` streams open used to fill the per-address count of
connections still sending their request head (MAX_PREAUTH_PER_IP): its agents could not
connect and its ``/health`` was reset. Now a head counts only until it is complete, and
streams and requests count against MAX_EVENT_STREAMS_PER_IP and MAX_HTTP_PER_IP (429 beyond).
"""

from __future__ import annotations

import asyncio
import contextlib

import httpx
from support.client import RawClient
from support.starter import StartGateway

STREAMS = 100


async def _open_stream(port: int) -> tuple[asyncio.StreamWriter, bytes]:
    """An HTTP/1.1 GET of /status/events left open; the status line of its answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /status/events HTTP/1.1\r\nHost: gateway\r\n\r\n")
    await writer.drain()
    async with asyncio.timeout(15):
        status = await reader.readline()
    return writer, status


async def test_event_streams_do_not_lock_the_address_out(start_gateway: StartGateway) -> None:
    """100 streams from one address: 8 are served, the rest 429; agents and /health still work."""
    gateway = start_gateway(max_event_streams_per_ip=8, max_preauth_per_ip=100)
    opened = await asyncio.gather(*(_open_stream(gateway.port) for _ in range(STREAMS)))
    try:
        statuses = [status.split(b" ")[1] for _, status in opened]
        assert statuses.count(b"200") == 8, statuses
        assert statuses.count(b"429") == STREAMS - 8, statuses
        agent = await RawClient.connect(gateway.ws_url)
        assert agent.registered is not None
        async with httpx.AsyncClient(base_url=gateway.http_url, timeout=10) as http:
            health = await http.get("/health")
            assert health.status_code == 200, health.text
    finally:
        for writer, _ in opened:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def test_plain_http_has_its_own_budget(start_gateway: StartGateway) -> None:
    """MAX_HTTP_PER_IP=2 with two streams held open: a third request is still served."""
    gateway = start_gateway(max_http_per_ip=2, max_event_streams_per_ip=2)
    opened = [await _open_stream(gateway.port) for _ in range(2)]
    try:
        assert all(b" 200 " in status for _, status in opened)
        async with httpx.AsyncClient(base_url=gateway.http_url, timeout=10) as http:
            answers = await asyncio.gather(*(http.get("/health") for _ in range(2)))
            assert [a.status_code for a in answers] == [200, 200]
        third, status = await _open_stream(gateway.port)
        third.close()
        assert b" 429 " in status, status
    finally:
        for writer, _ in opened:
            writer.close()
