"""What ``GET /agents`` costs the gateway with a big directory, and what clients that never read do.

Registers ``--agents`` agents with ``--metadata`` bytes of metadata each, then measures:
1. one walk of the whole directory (pages of 1000, following ``next_cursor``; a gateway
   that does not page answers everything at once): wall time, requests, largest answer;
2. the slowest PING round trip on another connection during that walk;
3. the gateway's RSS growth when ``--non-readers`` clients request the largest page and
   never read it, and the slowest PING meanwhile.
``--pythonpath DIR`` runs another copy of the gateway package (e.g. an older release)
for comparison. Usage: ``python bench/agents_listing.py [--agents 10000] [--metadata 8192]``.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from processes import gateway
from support.client import RawClient

from aiconexus.protocol import MessageType


async def register(url: str, count: int, metadata_bytes: int) -> list[RawClient]:
    """``count`` registered agents, 100 handshakes at a time."""
    metadata = {"description": "d" * metadata_bytes}
    clients: list[RawClient] = []
    for start in range(0, count, 100):
        batch = range(start, min(count, start + 100))
        clients += await asyncio.gather(
            *(RawClient.connect(url, metadata=metadata, max_size=None) for _ in batch)
        )
    return clients


def walk(base: str, result: dict[str, float]) -> None:
    """Fetch every page once (in a thread); fill ``result``."""
    started = time.perf_counter()
    requests = largest = 0
    cursor = None
    with httpx.Client(timeout=300) as http:
        while True:
            params: dict[str, str | int] = {"limit": 1000}
            if cursor is not None:
                params["cursor"] = cursor
            response = http.get(f"{base}/agents", params=params)
            requests += 1
            largest = max(largest, len(response.content))
            cursor = response.json().get("next_cursor")
            if cursor is None:
                break
    result.update(seconds=time.perf_counter() - started, requests=requests, largest=largest)


async def slowest_ping(prober: RawClient, until: threading.Event | float) -> float:
    """The slowest PING round trip until the event is set (or for that many seconds)."""
    assert prober.gateway_did is not None
    worst = 0.0
    deadline = time.monotonic() + until if isinstance(until, float) else None
    while not (until.is_set() if isinstance(until, threading.Event) else False):
        if deadline is not None and time.monotonic() > deadline:
            break
        started = time.perf_counter()
        await prober.send_message(MessageType.PING, prober.gateway_did, {})
        await prober.expect(MessageType.PONG, within=300)
        worst = max(worst, time.perf_counter() - started)
        await asyncio.sleep(0.01)
    return worst


def rss(pid: int) -> int:
    """Resident set size of ``pid`` in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


async def main() -> None:
    """Run the three measurements and print them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--metadata", type=int, default=8192, help="bytes of metadata an agent")
    parser.add_argument("--non-readers", type=int, default=8)
    parser.add_argument("--pythonpath", help="import the gateway package from this directory")
    args = parser.parse_args()
    extra = {"MAX_CONNECTIONS": str(args.agents + 100)}
    if args.pythonpath:
        extra["PYTHONPATH"] = args.pythonpath
    with gateway(verify=True, extra=extra) as service:
        assert service.process is not None
        base = f"http://127.0.0.1:{service.port}"
        started = time.perf_counter()
        agents = await register(service.ws_url, args.agents, args.metadata)
        print(f"registered {len(agents)} agents in {time.perf_counter() - started:.1f} s")
        prober = await RawClient.connect(service.ws_url)
        result: dict[str, float] = {}
        done = threading.Event()

        def walk_then_stop() -> None:
            try:
                walk(base, result)
            finally:
                done.set()

        walker = asyncio.create_task(asyncio.to_thread(walk_then_stop))
        worst = await slowest_ping(prober, done)
        await walker
        print(
            f"walk: {result['seconds']:.2f} s, {result['requests']:.0f} requests, largest answer "
            f"{result['largest'] / 2**20:.1f} MB; slowest PING meanwhile {worst * 1000:.0f} ms"
        )
        before = rss(service.process.pid)
        stalled = []
        for _ in range(args.non_readers):
            sock = socket.create_connection(("127.0.0.1", service.port))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(b"GET /agents?limit=1000 HTTP/1.1\r\nHost: x\r\n\r\n")
            stalled.append(sock)
        worst = await slowest_ping(prober, 3.0)
        grown = rss(service.process.pid) - before
        print(
            f"{args.non_readers} non-readers: RSS +{grown / 2**20:.0f} MB "
            f"(peak RSS {rss(service.process.pid) / 2**20:.0f} MB); "
            f"slowest PING meanwhile {worst * 1000:.0f} ms"
        )
        for sock in stalled:
            sock.close()
        await asyncio.gather(*(agent.close() for agent in agents), prober.close())


if __name__ == "__main__":
    asyncio.run(main())
