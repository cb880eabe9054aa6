"""Two variants of a call measured in alternating rounds, time and CPU summed per variant.

The bridge benches (bench/a2a_bridge.py, bench/mcp_bridge.py) run the same number of calls as
SDK ``request()``s and as bridge calls, the two taking turns so that a change of the machine's
load during the run falls on both alike.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

__all__ = ["ROUNDS", "Call", "Side", "alternate"]

ROUNDS = 4
"""The two variants take turns, a quarter of the calls each time, so that a change in the
machine's load during the run falls on both alike."""

Call = Callable[[], Awaitable[object]]


@dataclass
class Side:
    """What one variant's calls took, summed over its rounds."""

    calls: int = 0
    seconds: float = 0.0
    gateway_cpu_s: float = 0.0
    client_cpu_s: float = 0.0

    @property
    def rate(self) -> float:
        """Round trips per second."""
        return self.calls / self.seconds

    def cpu_ms(self) -> tuple[float, float]:
        """CPU milliseconds per call: in the gateway process, in this (client) process."""
        return 1e3 * self.gateway_cpu_s / self.calls, 1e3 * self.client_cpu_s / self.calls

    def cpu_us(self) -> tuple[float, float]:
        """CPU microseconds per call: in the gateway process, in this (client) process."""
        return 1e6 * self.gateway_cpu_s / self.calls, 1e6 * self.client_cpu_s / self.calls

    @property
    def core_share(self) -> float:
        """Share of one core that this (client) process used over the calls."""
        return self.client_cpu_s / self.seconds


async def _round(
    side: Side, calls: int, workers: Sequence[Call], gateway_cpu: Callable[[], float]
) -> None:
    remaining = [calls]

    async def worker(call: Call) -> None:
        while remaining[0] > 0:
            remaining[0] -= 1
            await call()

    cpu, here, start = gateway_cpu(), time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(call) for call in workers))
    side.seconds += time.perf_counter() - start
    side.gateway_cpu_s += gateway_cpu() - cpu
    side.client_cpu_s += time.process_time() - here
    side.calls += calls


async def alternate(
    calls: int,
    first: Sequence[Call],
    second: Sequence[Call],
    gateway_cpu: Callable[[], float],
) -> tuple[Side, Side]:
    """``calls`` calls per variant in ``ROUNDS`` turns, first then second each turn.

    Each variant has one worker per element of its sequence (the number in flight), each
    awaiting its call again until the round's share is done.
    """
    one, other = Side(), Side()
    per_round = max(calls // ROUNDS, 1)
    for _ in range(ROUNDS):
        await _round(one, per_round, first, gateway_cpu)
        await _round(other, per_round, second, gateway_cpu)
    return one, other
