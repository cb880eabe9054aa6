"""Hostile clients for the abuse suite (tests/abuse) and its benchmark (bench/abuse.py).

Each attack is bounded in count and time and talks only to the loopback gateway it is given.
The frame flood runs in a process of its own (``python -m support.attacks flood ...``) so
that the victim pair measured by the caller does not share an event loop with the flooder.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from aiconexus.protocol import (
    Identity,
    Message,
    MessageType,
    b64url_encode,
    canonicalize,
    format_timestamp,
)

__all__ = [
    "FloodResult",
    "Victim",
    "deep_frame",
    "empty_arrays_metadata",
    "flood",
    "flood_result",
    "open_raw",
    "percentile",
    "register",
    "register_bomb",
    "rss_mb",
    "run_flood",
    "signed_frame",
    "slow_and_silent_sockets",
]

TESTS_DIR = Path(__file__).resolve().parent.parent


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``samples`` (nearest rank)."""
    ordered = sorted(samples)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def open_raw(url: str) -> ClientConnection:
    """A WebSocket to the gateway, nothing sent."""
    return await connect(url, subprotocols=["ioap.v1"], compression=None, max_size=None)  # type: ignore[list-item]


async def register(
    url: str, identity: Identity, *, metadata: Any = None, capabilities: Any = ()
) -> tuple[ClientConnection, Message]:
    """Connect and REGISTER; the gateway's answer (REGISTERED or ERROR) and the socket."""
    ws = await open_raw(url)
    challenge = Message.parse(await asyncio.wait_for(ws.recv(), 10))
    payload = {
        "nonce": challenge.payload["nonce"],
        "capabilities": list(capabilities),
        "metadata": metadata if metadata is not None else {},
    }
    # Signed as is, not through Message.create, whose schema check would refuse a bomb.
    envelope: dict[str, Any] = {
        "version": "1.0",
        "id": str(uuid.uuid4()),
        "type": str(MessageType.REGISTER),
        "from": identity.did,
        "to": challenge.from_,
        "timestamp": format_timestamp(),
        "payload": payload,
    }
    envelope["signature"] = b64url_encode(identity.sign(canonicalize(envelope)))
    await ws.send(json.dumps(envelope))
    try:
        reply = Message.parse(await asyncio.wait_for(ws.recv(), 10))
    except ConnectionClosed as exc:
        raise ConnectionError(f"closed {exc.rcvd.code if exc.rcvd else None}") from None
    return ws, reply


def deep_frame(identity: Identity, to: str, depth: int, message_id: str | None = None) -> str:
    """An envelope whose payload nests ``depth`` arrays (the signature is not checked first)."""
    head = json.dumps(
        {
            "version": "1.0",
            "id": message_id or str(uuid.uuid4()),
            "type": "OFFER",
            "from": identity.did,
            "to": to,
            "timestamp": format_timestamp(),
            "signature": "A" * 86,
        },
        separators=(",", ":"),
    )
    return head[:-1] + ',"payload":{"sdp":' + "[" * depth + "]" * depth + "}}"


def empty_arrays_metadata(size: int) -> str:
    """REGISTER metadata (JSON text) of about ``size`` bytes of empty arrays."""
    return '{"x":[' + ",".join(["[]"] * (size // 3)) + "]}"


async def register_bomb(url: str, identity: Identity, metadata_json: str) -> Message:
    """Answer a CHALLENGE with a REGISTER carrying ``metadata_json`` as is (not signed).

    The gateway must refuse it from its size and shape, before verifying anything.
    """
    ws = await open_raw(url)
    try:
        challenge = Message.parse(await asyncio.wait_for(ws.recv(), 10))
        head = {
            "version": "1.0",
            "id": str(uuid.uuid4()),
            "type": "REGISTER",
            "from": identity.did,
            "to": challenge.from_,
            "timestamp": format_timestamp(),
            "signature": "A" * 86,
        }
        nonce = json.dumps(challenge.payload["nonce"])
        text = json.dumps(head, separators=(",", ":"))[:-1]
        text += ',"payload":{"capabilities":[],"nonce":' + nonce
        text += ',"metadata":' + metadata_json + "}}"
        await ws.send(text)
        return Message.parse(await asyncio.wait_for(ws.recv(), 10))
    finally:
        await ws.close()


@dataclass
class Victim:
    """Two registered agents; :meth:`measure` sends alice -> bob and times each arrival."""

    alice: ClientConnection
    bob: ClientConnection
    alice_id: Identity
    bob_id: Identity
    gateway_did: str
    acks: int = 0
    _reader: asyncio.Task[None] | None = field(default=None, repr=False)

    @classmethod
    async def open(cls, url: str) -> Victim:
        """Register alice and bob."""
        alice_id, bob_id = Identity.generate(), Identity.generate()
        alice, reply = await register(url, alice_id)
        bob, _ = await register(url, bob_id)
        victim = cls(alice, bob, alice_id, bob_id, reply.from_)
        victim._reader = asyncio.create_task(victim._drain_acks())
        return victim

    async def _drain_acks(self) -> None:
        try:
            async for _ in self.alice:
                self.acks += 1
        except ConnectionClosed:
            pass

    async def measure(self, count: int, gap_s: float = 0.004) -> list[float]:
        """Milliseconds from alice's send to bob's receive, ``count`` frames."""
        frames = [
            Message.create(self.alice_id, MessageType.OFFER, self.bob_id.did, {"sdp": f"v{i}"})
            for i in range(count)
        ]
        samples = []
        for message in frames:
            started = time.perf_counter()
            await self.alice.send(message.to_json())
            await asyncio.wait_for(self.bob.recv(), 10)
            samples.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(gap_s)
        return samples

    async def close(self) -> None:
        """Close both sockets."""
        if self._reader is not None:
            self._reader.cancel()
        await self.alice.close()
        await self.bob.close()


@dataclass
class FloodResult:
    """What a flooder saw: frames sent, ERROR codes received, how its connection ended."""

    sent: int
    codes: dict[str, int]
    retry_after_ms: int | None
    close_code: int | None
    seconds: float


def run_flood(url: str, kind: str, seconds: float) -> subprocess.Popen[bytes]:
    """Start a flooder (``kind``: valid, ping, badsig); returns once it starts sending.

    Read its summary with :func:`flood_result`.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "support.attacks", "flood", url, kind, str(seconds)],
        cwd=TESTS_DIR,
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if line.strip() != b"ready":
        process.kill()
        raise RuntimeError(f"the flooder did not start: {line!r}")
    return process


def flood_result(process: subprocess.Popen[bytes], timeout: float = 60) -> FloodResult:
    """Wait for a flooder and parse its summary."""
    out, _ = process.communicate(timeout=timeout)
    data = json.loads(out.decode().strip().splitlines()[-1])
    return FloodResult(**data)


FLOOD_UNIQUE_FRAMES = 6000
"""Distinct frames a flooder signs; it sends them round and round (repeats are replays)."""


def signed_frame(me: Identity, kind: str, to: str, payload: dict[str, Any], *, sign: bool) -> str:
    envelope: dict[str, Any] = {
        "version": "1.0",
        "id": str(uuid.uuid4()),
        "type": kind,
        "from": me.did,
        "to": to,
        "timestamp": format_timestamp(),
        "payload": payload,
    }
    signature = me.sign(canonicalize(envelope)) if sign else b"\x01" * 64
    envelope["signature"] = b64url_encode(signature)
    return canonicalize(envelope).decode()


def _flood_frames(kind: str, me: Identity, sink: str, gateway: str) -> list[str]:
    count = FLOOD_UNIQUE_FRAMES
    if kind == "ping":
        return [signed_frame(me, "PING", gateway, {}, sign=True) for _ in range(count)]
    payload = {"sdp": "x" * 64}
    return [signed_frame(me, "OFFER", sink, payload, sign=kind == "valid") for _ in range(count)]


async def flood(url: str, kind: str, seconds: float) -> FloodResult:
    """Register and send ``kind`` frames as fast as possible for ``seconds``; the summary."""
    me, sink_id = Identity.generate(), Identity.generate()
    ws, reply = await register(url, me)
    sink, _ = await register(url, sink_id)
    frames = _flood_frames(kind, me, sink_id.did, reply.from_)
    print("ready", flush=True)
    codes: Counter[str] = Counter()
    retry: list[int] = []

    async def read(conn: ClientConnection, count: bool) -> None:
        try:
            async for text in conn:
                if count and '"type":"ERROR"' in str(text):
                    payload = json.loads(text)["payload"]
                    codes[payload["code"]] += 1
                    if "details" in payload and "retry_after_ms" in payload["details"]:
                        retry.append(payload["details"]["retry_after_ms"])
        except ConnectionClosed:
            pass

    readers = [asyncio.create_task(read(ws, True)), asyncio.create_task(read(sink, False))]
    sent = 0
    started = time.monotonic()
    deadline = started + seconds
    try:
        while time.monotonic() < deadline:
            start = sent % len(frames)
            for frame in frames[start : start + 50]:
                await ws.send(frame)
            sent += len(frames[start : start + 50])
            await asyncio.sleep(0)
    except ConnectionClosed:
        pass
    elapsed = time.monotonic() - started
    await asyncio.sleep(0.5)
    close_code = ws.close_code
    await ws.close()
    await sink.close()
    for reader in readers:
        reader.cancel()
    return FloodResult(sent, dict(codes), retry[0] if retry else None, close_code, elapsed)


async def slow_and_silent_sockets(port: int, slow: int, silent: int) -> list[socket.socket]:
    """Open ``slow`` sockets that send one header byte and ``silent`` that send nothing."""
    opened = []
    for index in range(slow + silent):
        sock = socket.socket()
        sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        except OSError:
            sock.close()
            continue
        if index < slow:
            sock.send(b"G")
        opened.append(sock)
    return opened


def _main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["flood"])
    parser.add_argument("url")
    parser.add_argument("kind", choices=["valid", "ping", "badsig"])
    parser.add_argument("seconds", type=float)
    args = parser.parse_args(argv)
    result = asyncio.run(flood(args.url, args.kind, args.seconds))
    print(json.dumps(result.__dict__), flush=True)


if __name__ == "__main__":
    _main(sys.argv[1:])
