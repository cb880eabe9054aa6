"""Offline-store benchmark: verified frames/s to offline recipients (ACK ``queued``), per store.

One run measures the gateway with STORAGE_TYPE=memory and STORAGE_TYPE=sqlite (each a fresh
process, signatures verified, the same pre-signed frames) and prints their ratio. Each sender
sends to its own recipient, which never connects, so every frame takes the queued path: with
SQLite a frame is acknowledged only once it is committed. Each sender keeps at most
``--window`` frames un-acknowledged. Usage: ``python bench/store.py [--pairs N] [--frames M]``.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson
from driver import LoadPlan, connect_agent, load_options, make_plan
from processes import Service, gateway

UNBOUNDED = {
    "STORE_MAX_PER_AGENT": "100000000",
    "STORE_MAX_TOTAL": "0",
    "STORE_MAX_PER_SENDER": "0",
    "STORE_MAX_BYTES_PER_AGENT": "0",
    "STORE_MAX_BYTES_PER_SENDER": "0",
    "STORE_MAX_BYTES_TOTAL": "0",
    "STORE_MAX_BYTES_UNSEEN": "0",
}
"""The bounds are off: the benchmark measures storing, not refusing."""


async def _sender(url: str, plan: LoadPlan, index: int, window: int) -> int:
    ws = await connect_agent(url, plan.senders[index], "ioap")
    frames = plan.frames[index]
    credit = asyncio.Semaphore(window)
    queued = 0

    async def acks() -> None:
        nonlocal queued
        while queued < len(frames):
            reply = orjson.loads(await ws.recv())
            if reply["type"] != "ACK":
                raise RuntimeError(f"not stored: {reply['payload']}")
            if reply["payload"]["status"] != "queued":
                raise RuntimeError(f"unexpected status {reply['payload']['status']}")
            count = len(reply["payload"]["ids"])
            queued += count
            for _ in range(count):
                credit.release()

    reader = asyncio.create_task(acks())
    for frame in frames:
        await credit.acquire()
        await ws.send(frame)
    await reader
    await ws.close()
    return queued


async def _run(url: str, plan: LoadPlan, window: int) -> tuple[int, float]:
    start = time.perf_counter()
    counts = await asyncio.gather(
        *(_sender(url, plan, i, window) for i in range(len(plan.senders)))
    )
    return sum(counts), time.perf_counter() - start


def measure(name: str, service: Service, plan: LoadPlan, window: int) -> float:
    """Queued frames per second of one gateway process."""
    with service:
        before = service.cpu_seconds()
        frames, seconds = asyncio.run(_run(service.ws_url, plan, window))
        cpu_us = (service.cpu_seconds() - before) / frames * 1e6
    rate = frames / seconds
    print(
        f"{name:<8} {rate:>9,.0f} queued frames/s  ({frames} in {seconds:.2f} s, "
        f"server CPU {cpu_us:.0f} us/frame)"
    )
    return rate


def compare(pairs: int, frames: int, window: int) -> tuple[float, float]:
    """Queued (stored) verified frames/s with the memory and the SQLite store."""
    plan = make_plan(pairs, frames)
    print(f"{pairs} senders x {frames} frames to offline recipients, verified", flush=True)
    memory = measure("memory", gateway(verify=True, extra={**UNBOUNDED}), plan, window)
    with tempfile.TemporaryDirectory(prefix="bench-store-") as directory:
        extra = {**UNBOUNDED, "STORAGE_TYPE": "sqlite", "SQLITE_PATH": f"{directory}/bench.db"}
        sqlite = measure("sqlite", gateway(verify=True, extra=extra), plan, window)
    return memory, sqlite


def main() -> None:
    """Run both stores with the same frames and print the ratio."""
    pairs = "senders (each to one recipient)"
    parser = load_options(__doc__, frames=2500, window=256, pairs=pairs, per="sender")
    args = parser.parse_args()
    memory, sqlite = compare(args.pairs, args.frames, args.window)
    print(f"sqlite / memory = {sqlite / memory:.2f}")


if __name__ == "__main__":
    main()
