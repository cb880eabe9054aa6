"""One measured line of the benchmark: start services, drive a plan through them, read CPU.

Each line records the routed frames/s, one-way latency, the CPU the servers used per frame
and the CPU the load generator (this process) used, per frame and as a share of one core.
A generator near 100 % of a core is the bound of that line, not the gateway.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass

from driver import Dialect, LoadPlan, run_load
from processes import Service

__all__ = ["Line", "measure", "verify_rate"]


@dataclass
class Line:
    """What one run measured (JSON-ready through :meth:`as_dict`)."""

    name: str
    frames: int
    seconds: float
    frames_per_s: float
    p50_ms: float
    p99_ms: float
    server_cpu_us_per_frame: float
    generator_cpu_us_per_frame: float
    generator_core_share: float  # CPU seconds of the generator / wall seconds

    def as_dict(self) -> dict[str, float | int | str]:
        """The fields, rounded for reading."""
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


def measure(
    name: str,
    services: Sequence[Service],
    plan: LoadPlan,
    *,
    dialect: Dialect = "ioap",
    window: int = 64,
    sender_node: int = 0,
    receiver_node: int = 0,
    pin: int | None = None,
) -> Line:
    """Start ``services``, drive ``plan`` (senders on one, receivers on another), print a line.

    ``pin``: run the load generator on that CPU only (the services keep every CPU).
    """
    with ExitStack() as stack:
        for service in services:
            stack.enter_context(service)
        if pin is not None:
            cpus = os.sched_getaffinity(0)
            os.sched_setaffinity(0, {pin})
            stack.callback(os.sched_setaffinity, 0, cpus)
        before = sum(service.cpu_seconds() for service in services)
        result = asyncio.run(
            run_load(
                plan,
                [services[sender_node].ws_url],
                [services[receiver_node].ws_url],
                dialect=dialect,
                window=window,
            )
        )
        server_cpu = sum(service.cpu_seconds() for service in services) - before
    line = Line(
        name=name,
        frames=result.frames,
        seconds=result.seconds,
        frames_per_s=result.rate,
        p50_ms=result.p50,
        p99_ms=result.p99,
        server_cpu_us_per_frame=server_cpu / result.frames * 1e6,
        generator_cpu_us_per_frame=result.client_cpu_s / result.frames * 1e6,
        generator_core_share=result.client_cpu_s / result.seconds,
    )
    print(
        f"{name:<34} {line.frames_per_s:>9,.0f} frames/s  p50 {line.p50_ms:6.2f} ms  "
        f"p99 {line.p99_ms:6.2f} ms  CPU/frame server {line.server_cpu_us_per_frame:4.0f} us, "
        f"generator {line.generator_cpu_us_per_frame:3.0f} us "
        f"({line.generator_core_share:4.0%} of a core)  "
        f"[{line.frames} frames in {line.seconds:.1f} s]",
        flush=True,
    )
    return line


def verify_rate(seconds: float = 1.5) -> float:
    """Single-core PyNaCl Ed25519 verifications per second of a ~400-byte message."""
    from nacl.signing import SigningKey

    key = SigningKey.generate()
    message = os.urandom(400)
    signed = key.sign(message)
    verify = key.verify_key.verify
    count = 0
    deadline = time.perf_counter() + seconds
    start = time.perf_counter()
    while time.perf_counter() < deadline:
        for _ in range(200):
            verify(signed)
        count += 200
    return count / (time.perf_counter() - start)
