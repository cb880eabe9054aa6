"""Load driver: pre-signed frames between N sender/receiver pairs, against any list of URLs.

Reusable by other benchmark modules (e.g. a cluster run that connects senders to one node
and receivers to another): build a :class:`LoadPlan` once, then call :func:`run_load` with
the URLs of the senders and of the receivers (assigned round-robin) and a dialect.

Each sender keeps at most ``window`` frames in flight (sent but not yet received by its
receiver). Latency of a frame = receive time - send time, both taken in this process;
frames of one pair arrive in order, so the k-th frame received is the k-th sent.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import orjson
from websockets.asyncio.client import ClientConnection, connect

from aiconexus.protocol import ClientHandshake, Identity, b64url_encode, format_timestamp

__all__ = [
    "Dialect",
    "LoadPlan",
    "LoadResult",
    "connect_agent",
    "load_options",
    "make_plan",
    "run_load",
]

Dialect = Literal["ioap", "bare"]
"""``ioap``: CHALLENGE/REGISTER handshake and ACKs; ``bare``: ``/ws?id=`` and no ACKs."""


@dataclass
class LoadPlan:
    """Identities and pre-signed frames of every pair (signed before any timing)."""

    senders: list[Identity]
    receivers: list[Identity]
    frames: list[list[str]]  # frames[i]: what sender i sends to receiver i, in order

    @property
    def total(self) -> int:
        """Frames in the whole plan."""
        return sum(len(f) for f in self.frames)


@dataclass
class LoadResult:
    """What one run measured."""

    frames: int
    seconds: float
    latencies_ms: list[float] = field(repr=False)
    acks: int = 0
    client_cpu_s: float = 0.0

    @property
    def rate(self) -> float:
        """Routed frames per second."""
        return self.frames / self.seconds

    def percentile(self, q: float) -> float:
        """Latency percentile ``q`` (0..100) in milliseconds."""
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))]

    @property
    def p50(self) -> float:
        """Median latency, ms."""
        return statistics.median(self.latencies_ms)

    @property
    def p99(self) -> float:
        """99th percentile latency, ms."""
        return self.percentile(99)


def load_options(
    doc: str, *, frames: int, window: int, pairs: str = "sender/receiver pairs", per: str = "pair"
) -> argparse.ArgumentParser:
    """A parser named after ``doc``'s first line with ``--pairs`` (8), ``--frames``, ``--window``.

    ``pairs`` describes ``--pairs``; ``per`` is what ``--frames`` and ``--window`` count per.
    Callers add their own options before ``parse_args()``.
    """
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=8, help=pairs)
    parser.add_argument("--frames", type=int, default=frames, help=f"frames per {per}")
    parser.add_argument("--window", type=int, default=window, help=f"frames in flight per {per}")
    return parser


def make_plan(pairs: int, frames_per_pair: int, payload_bytes: int = 300) -> LoadPlan:
    """Identities and signed INTENT frames (unique ids, timestamps of now)."""
    senders = [Identity.generate() for _ in range(pairs)]
    receivers = [Identity.generate() for _ in range(pairs)]
    query = "q" * payload_bytes
    frames = []
    for sender, receiver in zip(senders, receivers, strict=True):
        stamp = format_timestamp()
        own = []
        for _ in range(frames_per_pair):
            envelope = {
                "version": "1.0",
                "id": str(uuid.uuid4()),
                "type": "INTENT",
                "from": sender.did,
                "to": receiver.did,
                "timestamp": stamp,
                "payload": {"query": query},
            }
            signing = orjson.dumps(envelope, option=orjson.OPT_SORT_KEYS)  # = JCS here
            envelope["signature"] = b64url_encode(sender.sign(signing))
            own.append(orjson.dumps(envelope, option=orjson.OPT_SORT_KEYS).decode())
        frames.append(own)
    return LoadPlan(senders, receivers, frames)


async def connect_agent(url: str, identity: Identity, dialect: Dialect) -> ClientConnection:
    """Open a connection; for ``ioap``, answer the CHALLENGE and wait for REGISTERED."""
    if dialect == "bare":
        return await connect(f"{url}?id={identity.did}", compression=None, max_size=None)
    ws = await connect(url, subprotocols=["ioap.v1"], compression=None, max_size=None)  # type: ignore[list-item]
    handshake = ClientHandshake(identity)  # a refusal raises its IoapError
    await ws.send(handshake.receive_challenge(await ws.recv()).to_json())
    handshake.receive_reply(await ws.recv())
    return ws


async def run_load(
    plan: LoadPlan,
    sender_urls: Sequence[str],
    receiver_urls: Sequence[str],
    *,
    dialect: Dialect = "ioap",
    window: int = 64,
    timeout_s: float = 120.0,
) -> LoadResult:
    """Drive the plan; senders connect round-robin to ``sender_urls``, receivers likewise."""
    receivers = [
        await connect_agent(receiver_urls[i % len(receiver_urls)], identity, dialect)
        for i, identity in enumerate(plan.receivers)
    ]
    senders = [
        await connect_agent(sender_urls[i % len(sender_urls)], identity, dialect)
        for i, identity in enumerate(plan.senders)
    ]
    latencies: list[float] = []
    acks = [0]
    cpu_before = time.process_time()
    try:
        async with asyncio.timeout(timeout_s):
            start = time.perf_counter()
            await asyncio.gather(
                *(
                    _pair(
                        senders[i],
                        receivers[i],
                        plan.frames[i],
                        window,
                        latencies,
                        acks,
                        dialect == "ioap",
                    )
                    for i in range(len(senders))
                )
            )
            seconds = time.perf_counter() - start
            client_cpu = time.process_time() - cpu_before
    finally:
        for ws in senders + receivers:
            await ws.close()
    return LoadResult(plan.total, seconds, latencies, acks[0], client_cpu)


async def _pair(
    sender: ClientConnection,
    receiver: ClientConnection,
    frames: list[str],
    window: int,
    latencies: list[float],
    acks: list[int],
    expect_acks: bool,
) -> None:
    sent_at: list[float] = []
    received = [0]
    room = asyncio.Event()
    room.set()
    clock = time.perf_counter

    async def receive() -> None:
        for _ in frames:
            await receiver.recv()
            latencies.append((clock() - sent_at[received[0]]) * 1000.0)
            received[0] += 1
            room.set()

    async def count_acks(expected: int) -> None:
        counted = 0
        while counted < expected:  # one ACK may list several ids
            ids = len(orjson.loads(await sender.recv())["payload"]["ids"])
            counted += ids
            acks[0] += ids

    receiving = asyncio.create_task(receive())
    acking = asyncio.create_task(count_acks(len(frames) if expect_acks else 0))
    for frame in frames:
        while len(sent_at) - received[0] >= window:
            room.clear()
            await room.wait()
        sent_at.append(clock())
        await sender.send(frame)
    await receiving
    await acking
