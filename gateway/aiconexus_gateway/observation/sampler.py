"""A once-a-second summary of the gateway for the status page, with the last minutes kept.

Each tick reads the node's counters (a few integers and one histogram's buckets: nothing
that grows with the number of agents), the store depth, and every few ticks the cluster's
live nodes. Points (frames/s, delivered/s, refusals/s, p50/p99 route latency over a short
window) go into a ring buffer; listeners (the status page's event streams) wait for the
next tick with :meth:`Sampler.next_tick`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from typing import Any, Protocol

from aiconexus_gateway.backend.base import Backend, BackendUnavailableError

from .metrics import Metrics, quantile

__all__ = ["HISTORY_S", "NodeView", "Sampler"]

logger = logging.getLogger("aiconexus.gateway")

HISTORY_S = 300
"""Seconds of points kept (the status page's chart spans them)."""

LATENCY_WINDOW = 5
"""Ticks of latency observations each point's p50/p99 is computed over."""

NODES_EVERY = 5
"""Ticks between two look-ups of the cluster's live nodes."""


class NodeView(Protocol):
    """What the sampler reads of the node it samples (the hub offers it, read-only)."""

    @property
    def connections(self) -> int:
        """Connections open now."""

    @property
    def registered(self) -> int:
        """Registered sessions of this node."""

    @property
    def started_at(self) -> float:
        """When the node started (``time.time()``)."""

    @property
    def stopping(self) -> bool:
        """True once the node drains."""


class Sampler:
    """Samples ``node`` and ``metrics`` every ``interval`` seconds; keeps ``history`` points.

    ``store_capacity``: STORE_MAX_TOTAL when storing is on, else 0.
    """

    def __init__(
        self,
        node: NodeView,
        metrics: Metrics,
        backend: Backend,
        *,
        node_id: str,
        did: str,
        store_capacity: int = 0,
        interval: float = 1.0,
        history: int = HISTORY_S,
    ) -> None:
        self.node = node
        self.metrics = metrics
        self.backend = backend
        self.node_id = node_id
        self.did = did
        self.store_capacity = store_capacity
        self.interval = interval
        self.points: deque[dict[str, Any]] = deque(maxlen=history)
        self.stored: int | None = None
        self.nodes: list[str] = [node_id]
        self._buckets: deque[list[int]] = deque(maxlen=LATENCY_WINDOW + 1)
        self._last: tuple[float, int, int, int] | None = None
        self._tick = asyncio.Event()
        self._ticks = 0
        self.closed = False

    async def run(self) -> None:
        """Sample until cancelled (started and stopped by the application's lifespan)."""
        try:
            while True:
                await self.sample()
                await asyncio.sleep(self.interval)
        finally:
            self.closed = True
            self._wake()

    async def sample(self) -> dict[str, Any]:
        """Take one point now, wake the listeners, and return the point."""
        backend = self.backend
        with contextlib.suppress(BackendUnavailableError, TimeoutError):
            async with asyncio.timeout(self.interval):
                self.stored = await backend.stored_count()
        if self._ticks % NODES_EVERY == 0:
            with contextlib.suppress(BackendUnavailableError, TimeoutError):
                async with asyncio.timeout(self.interval):
                    live = await backend.live_nodes()
                    self.nodes = sorted({*live, self.node_id})  # this node is alive
        self._ticks += 1
        point = self._point(time.time())
        self.points.append(point)
        self._wake()
        return point

    def _point(self, now: float) -> dict[str, Any]:
        metrics = self.metrics
        refused = sum(metrics.rejected.values())
        totals = (now, metrics.routed, metrics.delivered, refused)
        last, self._last = self._last, totals
        histogram = metrics.route_latency
        self._buckets.append(list(histogram.counts))
        oldest = self._buckets[0]
        window = [new - old for new, old in zip(self._buckets[-1], oldest, strict=True)]
        p50 = quantile(0.5, histogram.bounds, window)
        p99 = quantile(0.99, histogram.bounds, window)
        point: dict[str, Any] = {"t": round(now, 3), "fps": 0.0, "dps": 0.0, "rps": 0.0}
        if last is not None and now > last[0]:
            elapsed = now - last[0]
            point["fps"] = round((totals[1] - last[1]) / elapsed, 1)
            point["dps"] = round((totals[2] - last[2]) / elapsed, 1)
            point["rps"] = round((totals[3] - last[3]) / elapsed, 1)
        point["p50_ms"] = None if p50 is None else round(p50 * 1000, 3)
        point["p99_ms"] = None if p99 is None else round(p99 * 1000, 3)
        return point

    def summary(self) -> dict[str, Any]:
        """The current totals (no per-agent data): what every event of the stream carries."""
        node = self.node
        return {
            "node_id": self.node_id,
            "did": self.did,
            "backend": self.backend.name,
            "uptime_s": round(time.time() - node.started_at, 1),
            "connections": node.connections,
            "registered": node.registered,
            "stored": self.stored,
            "store_capacity": self.store_capacity,
            "refusals": dict(sorted(self.metrics.rejected.items())),
            "nodes": list(self.nodes),
            "point": self.points[-1] if self.points else None,
        }

    def history(self) -> list[dict[str, Any]]:
        """Every point kept, oldest first."""
        return list(self.points)

    async def next_tick(self, timeout: float) -> bool:
        """Wait for the next point (True), or ``timeout`` seconds / the sampler's end (False)."""
        if self.closed:
            return False
        event = self._tick
        try:
            async with asyncio.timeout(timeout):
                await event.wait()
        except TimeoutError:
            return False
        return not self.closed

    def _wake(self) -> None:
        event, self._tick = self._tick, asyncio.Event()
        event.set()
