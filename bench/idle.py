"""Memory of idle registered agents: the gateway's resident set size per connected agent.

``warm`` agents register first (the first connections pay for lazily built objects and
allocator arenas), then the resident set size (RSS, from /proc) is read; ``count`` more
agents register and stay idle; after a short settle the RSS is read again. The figure is
(RSS after - RSS before) / count. Connections are opened ``batch`` at a time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from driver import connect_agent
from websockets.asyncio.client import ClientConnection

from aiconexus.protocol import Identity

__all__ = ["IdleResult", "idle_agents"]


@dataclass
class IdleResult:
    """What one idle-memory run measured."""

    agents: int
    rss_before_kb: int
    rss_after_kb: int
    seconds: float
    client_cpu_s: float

    @property
    def kb_per_agent(self) -> float:
        """Gateway RSS per idle registered agent, kB."""
        return (self.rss_after_kb - self.rss_before_kb) / self.agents


async def idle_agents(
    url: str,
    count: int,
    rss_kb: Callable[[], int],
    *,
    warm: int = 50,
    batch: int = 100,
    settle_s: float = 1.0,
) -> IdleResult:
    """Register ``warm`` then ``count`` agents at ``url``; measure the RSS they add."""
    identities = [Identity.generate() for _ in range(warm + count)]
    connections: list[ClientConnection] = []
    cpu_before = time.process_time()
    started = time.perf_counter()
    try:
        await _connect_all(url, identities[:warm], batch, connections)
        await asyncio.sleep(settle_s)
        before = rss_kb()
        await _connect_all(url, identities[warm:], batch, connections)
        await asyncio.sleep(settle_s)
        after = rss_kb()
        seconds = time.perf_counter() - started
        client_cpu = time.process_time() - cpu_before
    finally:
        for start in range(0, len(connections), batch):
            await asyncio.gather(*(ws.close() for ws in connections[start : start + batch]))
    return IdleResult(count, before, after, seconds, client_cpu)


async def _connect_all(
    url: str, identities: list[Identity], batch: int, into: list[ClientConnection]
) -> None:
    for start in range(0, len(identities), batch):
        chunk = identities[start : start + batch]
        into.extend(await asyncio.gather(*(connect_agent(url, i, "ioap") for i in chunk)))
