"""Backlog benchmark: frames/s an agent drains from a backlog stored while it was away.

Per store (memory, SQLite, and Redis when redis-server is installed), in a fresh verifying
gateway process: the recipient registers once and leaves, one sender stores ``--frames``
frames for it (every one ACKed ``queued``), then the recipient connects with the SDK's
``GatewayClient`` (recipient acknowledgements on, the default) and reads them all with
``recv()``. The rate is frames over the time from the connect to the last frame; the run
also checks that every frame arrived once and in order. Usage:
``python bench/backlog.py [--frames N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson
from cluster import redis_server
from driver import connect_agent, make_plan
from processes import Service, gateway
from store import UNBOUNDED

from aiconexus import GatewayClient, Identity

STORES = ("memory", "sqlite", "redis")


async def _store(url: str, sender: Identity, frames: list[str]) -> None:
    """Send ``frames`` and wait until every one is ACKed ``queued``."""
    ws = await connect_agent(url, sender, "ioap")
    queued = 0

    async def acks() -> None:
        nonlocal queued
        while queued < len(frames):
            reply = orjson.loads(await ws.recv())
            if reply["type"] != "ACK" or reply["payload"]["status"] != "queued":
                raise RuntimeError(f"not stored: {reply['payload']}")
            queued += len(reply["payload"]["ids"])

    reader = asyncio.create_task(acks())
    for frame in frames:
        await ws.send(frame)
    await reader
    await ws.close()


async def _drain(url: str, recipient: Identity, ids: list[str]) -> float:
    """Connect, read every stored frame with ``recv()``; seconds from connect to the last."""
    started = time.perf_counter()
    got: list[str] = []
    async with GatewayClient(url, recipient, reconnect=False) as client:
        while len(got) < len(ids):
            async with asyncio.timeout(60):
                got.append((await client.recv()).id)
    seconds = time.perf_counter() - started
    if got != ids:
        raise RuntimeError(f"drained {len(got)} frames, not each of the {len(ids)} once in order")
    return seconds


async def _run(url: str, frames: int) -> float:
    plan = make_plan(1, frames)
    sender, recipient = plan.senders[0], plan.receivers[0]
    ws = await connect_agent(url, recipient, "ioap")  # registered once, then away
    await ws.close()
    await asyncio.sleep(0.2)
    await _store(url, sender, plan.frames[0])
    ids = [orjson.loads(frame)["id"] for frame in plan.frames[0]]
    seconds = await _drain(url, recipient, ids)
    return frames / seconds


def _service(store: str, directory: str, redis_url: str | None) -> Service:
    extra = {**UNBOUNDED, "RATE_LIMIT_FRAMES_PER_S": "0", "RATE_LIMIT_BYTES_PER_S": "0"}
    if store == "sqlite":
        extra.update(STORAGE_TYPE="sqlite", SQLITE_PATH=f"{directory}/backlog.db")
    elif store == "redis":
        assert redis_url is not None
        extra.update(STORAGE_TYPE="redis", REDIS_URL=f"{redis_url}/0")
    return gateway(verify=True, extra=extra)


@contextlib.contextmanager
def _redis() -> Iterator[str | None]:
    if shutil.which("redis-server") is None:
        yield None
        return
    with redis_server() as url:
        yield url


def measure(frames: int) -> dict[str, float]:
    """Drained frames/s per store (Redis left out when redis-server is not installed)."""
    rates: dict[str, float] = {}
    print(f"backlog: {frames} stored frames drained by GatewayClient.recv()", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-backlog-") as directory, _redis() as url:
        for store in STORES:
            if store == "redis" and url is None:
                print(f"{'backlog, redis':<34}   skipped (no redis-server)", flush=True)
                continue
            with _service(store, directory, url) as service:
                rate = asyncio.run(_run(service.ws_url, frames))
            rates[store] = rate
            print(f"{'backlog, ' + store:<34} {rate:>9,.0f} frames/s drained", flush=True)
    return rates


def main() -> None:
    """Drain a backlog on every store and print the rates."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20_000, help="frames in the backlog")
    measure(parser.parse_args().frames)


if __name__ == "__main__":
    main()
