"""GET /agents under abuse: a big directory, a client paging through it, clients that never read.

A few thousand agents register with large metadata (the whole directory is tens of MB).
Every answer must stay bounded in size (one page), the gateway must keep answering PING
on another connection while pages are fetched, and clients that ask for a page and never
read it must not pin a copy of the directory in the gateway's memory.
"""

from __future__ import annotations

import asyncio
import resource
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.client import RawClient
from support.gateway import GatewayProcess

from aiconexus.protocol import MessageType
from aiconexus_gateway.observation.listing import PAGE_MAX, PAGE_MAX_BYTES

pytestmark = pytest.mark.slow

AGENTS = 2000
"""Agents registered (each with its own WebSocket connection)."""
METADATA_BYTES = 24 * 1024
"""Metadata of each agent: large, within what REGISTER allows here (REGISTER_MAX_METADATA_BYTES)."""
NON_READERS = 8
"""Clients that request the largest page and never read the answer."""
PING_BOUND_S = 0.5
"""Slowest PING round trip accepted (a whole-directory answer held the loop for seconds)."""
RSS_GROWTH_BOUND = 64 * 1024 * 1024
"""What the non-readers together may add to the gateway's memory (a copy of the directory
each would be ~50 MB apiece)."""
SLACK = METADATA_BYTES + 4096
"""A page may pass PAGE_MAX_BYTES by one agent (and the JSON around the agents)."""


@pytest.fixture(scope="module")
def big_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """A memory gateway with room for the agents' connections, all from one address."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4 * AGENTS + 1024
    if soft < wanted and (hard == resource.RLIM_INFINITY or hard >= wanted):
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    workdir = Path(tmp_path_factory.mktemp("abuse"))
    env = {
        "STORAGE_TYPE": "memory",
        "LOG_LEVEL": "WARNING",
        "REGISTER_MAX_METADATA_BYTES": str(2 * METADATA_BYTES),
        "MAX_CONNECTIONS_PER_IP": "0",
        "MAX_PREAUTH_PER_IP": "0",
        "MAX_REGISTRATIONS_PER_IP_PER_MINUTE": "0",
    }
    with GatewayProcess(env, workdir) as gateway:
        yield gateway


async def _register_many(url: str, count: int) -> list[RawClient]:
    metadata = {"name": "bulk", "description": "d" * METADATA_BYTES}
    clients: list[RawClient] = []
    for start in range(0, count, 100):
        batch = range(start, min(count, start + 100))
        clients += await asyncio.gather(
            *(RawClient.connect(url, capabilities=["bulk"], metadata=metadata) for _ in batch)
        )
    return clients


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _walk_pages(
    base: str, stop: threading.Event, first: threading.Event, sizes: list[int], dids: list[str]
) -> None:
    """Walk every page of the largest size again and again until ``stop`` (in a thread).

    ``sizes`` gets the size of every answer, ``dids`` the DIDs of the first walk.
    """
    with httpx.Client(timeout=30) as http:
        while not stop.is_set():
            walk: list[str] = []
            cursor = None
            while True:
                params: dict[str, str | int] = {"limit": PAGE_MAX}
                if cursor is not None:
                    params["cursor"] = cursor
                response = http.get(f"{base}/agents", params=params)
                response.raise_for_status()
                sizes.append(len(response.content))
                body = response.json()
                walk += [agent["did"] for agent in body["agents"]]
                cursor = body["next_cursor"]
                if cursor is None:
                    break
            if not first.is_set():
                dids += walk
                first.set()


def _never_read(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    request = f"GET /agents?limit={PAGE_MAX} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    sock.sendall(request.encode())
    return sock


async def _ping_round_trips(prober: RawClient, seconds: float) -> list[float]:
    assert prober.gateway_did is not None
    times: list[float] = []
    deadline = time.monotonic() + seconds
    sequence = 0
    while time.monotonic() < deadline:
        sequence += 1
        started = time.perf_counter()
        await prober.send_message(MessageType.PING, prober.gateway_did, {"sequence": sequence})
        pong = await prober.expect(MessageType.PONG, within=10)
        times.append(time.perf_counter() - started)
        assert pong.payload["sequence"] == sequence
        await asyncio.sleep(0.01)
    return times


async def test_listing_stays_bounded_and_the_loop_free(big_gateway: GatewayProcess) -> None:
    """Pages stay bounded, PING stays fast, and non-readers pin no copy of the directory."""
    agents = await _register_many(big_gateway.ws_url, AGENTS)
    prober = await RawClient.connect(big_gateway.ws_url)
    expected = sorted([*(agent.did for agent in agents), prober.did])
    assert big_gateway.process is not None
    pid = big_gateway.process.pid
    await _ping_round_trips(prober, 0.2)  # warm up

    # A client pages through the whole directory, over and over, while PINGs go round.
    stop, first = threading.Event(), threading.Event()
    sizes: list[int] = []
    dids: list[str] = []
    pager = asyncio.create_task(
        asyncio.to_thread(_walk_pages, big_gateway.http_url, stop, first, sizes, dids)
    )
    while_paging = await _ping_round_trips(prober, 1.5)
    while not first.is_set():
        assert not pager.done(), pager
        await asyncio.sleep(0.05)
    stop.set()
    await pager
    assert dids == expected  # every agent exactly once, in DID order
    assert max(sizes) <= PAGE_MAX_BYTES + SLACK
    assert len(sizes) >= len(expected) * METADATA_BYTES // (PAGE_MAX_BYTES + SLACK)
    assert max(while_paging) < PING_BOUND_S, sorted(while_paging)[-5:]

    # Clients ask for the largest page and never read it.
    before = _rss(pid)
    stalled = [_never_read(big_gateway.port) for _ in range(NON_READERS)]
    try:
        while_stalled = await _ping_round_trips(prober, 1.5)
        grown = _rss(pid) - before
        assert max(while_stalled) < PING_BOUND_S, sorted(while_stalled)[-5:]
        assert grown < RSS_GROWTH_BOUND, f"RSS grew by {grown / 2**20:.0f} MB"
        async with httpx.AsyncClient(timeout=5) as http:  # others are still served
            response = await http.get(f"{big_gateway.http_url}/agents", params={"limit": 5})
        assert response.json()["count"] == 5
    finally:
        for sock in stalled:
            sock.close()
    await asyncio.gather(*(agent.close() for agent in agents))
