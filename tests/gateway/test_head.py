"""HEAD is answered as GET: same status and headers, no body (RFC 9110 9.3.2)."""

from __future__ import annotations

import httpx
import pytest
from support.inprocess import InProcessGateway


@pytest.mark.parametrize("path", ["/", "/status", "/health", "/agents", "/metrics"])
async def test_head_answers_as_get(gateway: InProcessGateway, path: str) -> None:
    """Status, content type and (for a fixed body) length of GET; an empty body."""
    async with httpx.AsyncClient(base_url=gateway.http_url, timeout=10.0) as http:
        got = await http.get(path, follow_redirects=False)
        head = await http.head(path, follow_redirects=False)
    assert head.status_code == got.status_code != 405
    assert head.content == b""
    assert head.headers.get("content-type") == got.headers.get("content-type")
    assert head.headers.get("location") == got.headers.get("location")
    if path in ("/", "/status"):
        assert head.headers["content-length"] == got.headers["content-length"]


async def test_head_of_the_event_stream_ends(gateway: InProcessGateway) -> None:
    """The endless status event stream: HEAD gets its headers and an end, at once."""
    async with httpx.AsyncClient(base_url=gateway.http_url, timeout=10.0) as http:
        head = await http.head("/status/events")
        assert head.status_code == 200
        assert head.headers["content-type"].startswith("text/event-stream")
        assert head.content == b""
        assert (await http.get("/health")).status_code == 200  # the server is still fine


async def test_other_methods_still_refused(gateway: InProcessGateway) -> None:
    """Only HEAD is mapped: DELETE / is still 405."""
    async with httpx.AsyncClient(base_url=gateway.http_url, timeout=10.0) as http:
        assert (await http.delete("/health")).status_code == 405
