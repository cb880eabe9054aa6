"""What end-to-end encrypted payloads cost: gateway frames/s and SDK round trips/s, one run.

1. Gateway checks in process, on one core: what the gateway does per received frame
   (parse, signature, payload check: the plain schema or the encrypted form), plain vs
   encrypted frames, timed over the same payloads. Steady on a shared machine.
2. Gateway: fresh verifying gateways (memory backend) route the same INTENT payloads between
   N sender/receiver pairs, plain and encrypted (each frame sealed for its receiver and
   signed before any timing), alternating, best of ``rounds`` each. The gateway verifies
   every frame and checks the encrypted form instead of the payload schema.
3. Round trips: an SDK ``Agent`` answers EXEC_REQUESTs that a ``GatewayClient`` sends with
   ``request()``, ``concurrency`` in flight, plain and then encrypted, through one gateway.
   An encrypted round trip seals and signs twice and verifies and opens twice (both ends
   in this process), so it measures the client-side cost.

Usage: ``python bench/encryption.py [--pairs N] [--frames N] [--window N] [--requests N]``.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from driver import LoadPlan, load_options, make_plan
from measure import Line, measure
from processes import gateway

from aiconexus import Agent, GatewayClient
from aiconexus.protocol import (
    Identity,
    Message,
    b64url_decode,
    format_timestamp,
    parse_envelope,
    public_key_from_did,
    verify_ed25519,
)
from aiconexus_gateway.guards.payload_check import PayloadCheck
from aiconexus_gateway.settings import Settings

__all__ = ["check_rates", "compare_gateway", "compare_round_trips", "encrypted_plan"]


def encrypted_plan(plan: LoadPlan) -> LoadPlan:
    """The same pairs and payloads as ``plan`` (INTENT), each payload sealed for its receiver."""
    frames = []
    for sender, receiver, own in zip(plan.senders, plan.receivers, plan.frames, strict=True):
        stamp = format_timestamp()
        sealed = []
        for text in own:
            plain = Message.parse(text)
            message = Message.create(
                sender, "INTENT", receiver.did, plain.payload, id=plain.id, timestamp=stamp,
                encrypt=True,
            )  # fmt: skip
            sealed.append(message.to_json())
        frames.append(sealed)
    return LoadPlan(plan.senders, plan.receivers, frames)


def _checks_per_s(frames: list[str], seconds: float) -> float:
    """Frames/s through the gateway's per-frame checks (as the router runs them), one core."""
    payloads = PayloadCheck(Settings(), "did:key:gateway")
    keys = {text: public_key_from_did(parse_envelope(text).sender) for text in frames[:1]}
    key = next(iter(keys.values()))
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for text in frames:
            envelope = parse_envelope(text)
            signature = b64url_decode(envelope.data["signature"])
            if not verify_ed25519(key, envelope.signing_bytes(), signature):
                raise RuntimeError("a benchmark frame does not verify")
            payloads.check(envelope)
        done += len(frames)
    return done / (time.perf_counter() - start)


def check_rates(plan: LoadPlan, sealed: LoadPlan, seconds: float = 1.0) -> tuple[float, float]:
    """Per-frame gateway checks/s of one sender's frames, plain and encrypted, alternating."""
    best = {"plain": 0.0, "encrypted": 0.0}
    for _ in range(2):
        for label, source in (("plain", plan), ("encrypted", sealed)):
            rate = _checks_per_s(source.frames[0][:500], seconds / 2)
            best[label] = max(best[label], rate)
    for label, rate in best.items():
        print(f"{'gateway checks, ' + label:<34} {rate:>9,.0f} frames/s (one core, in process)")
    return best["plain"], best["encrypted"]


def compare_gateway(pairs: int, frames: int, window: int, rounds: int = 2) -> tuple[Line, Line]:
    """Verified frames/s, plain and encrypted (best of ``rounds`` each), printed as measured."""
    plain = make_plan(pairs, frames)
    sealed = encrypted_plan(plain)
    best: dict[str, Line] = {}
    for _ in range(rounds):
        for label, plan in (("plain", plain), ("encrypted", sealed)):
            line = measure(
                f"gateway, verify on, {label}", [gateway(verify=True)], plan, window=window
            )
            if label not in best or line.frames_per_s > best[label].frames_per_s:
                best[label] = line
    return best["plain"], best["encrypted"]


async def _round_trips(url: str, requests: int, concurrency: int, encrypt: bool) -> float:
    agent = Agent(Identity.generate(), capabilities=["bench-echo"])

    @agent.on("EXEC_REQUEST")
    async def echo(message: Message) -> object:
        return message.payload["args"]

    args = {"text": "q" * 300}
    async with agent.connect(url), GatewayClient(url, Identity.generate()) as client:
        await client.request(agent.did, args, encrypt=encrypt)  # warm up both ends
        remaining = [requests]

        async def worker() -> None:
            while remaining[0] > 0:
                remaining[0] -= 1
                await client.request(agent.did, args, encrypt=encrypt)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return requests / (time.perf_counter() - start)


def compare_round_trips(requests: int, concurrency: int = 8) -> tuple[float, float]:
    """SDK request() round trips/s, plain then encrypted, through one verifying gateway.

    Each line also shows the CPU microseconds one round trip took in this process (client
    and agent) and in the gateway's (bench/sdk_requests.py tells the client and agent apart).
    """
    rates: dict[bool, float] = {}
    with gateway(verify=True) as service:
        for encrypt in (False, True):
            here, there = sum(os.times()[:2]), service.cpu_seconds()
            rates[encrypt] = asyncio.run(
                _round_trips(service.ws_url, requests, concurrency, encrypt)
            )
            here_us = 1e6 * (sum(os.times()[:2]) - here) / requests
            there_us = 1e6 * (service.cpu_seconds() - there) / requests
            label = "SDK round trips, " + ("encrypted" if encrypt else "plain")
            print(
                f"{label:<34} {rates[encrypt]:>9,.0f} request()/s   CPU per round trip: "
                f"client+agent {here_us:,.0f} us, gateway {there_us:,.0f} us",
                flush=True,
            )
    return rates[False], rates[True]


def main() -> None:
    """Run both comparisons and print the ratios."""
    parser = load_options(__doc__, frames=2500, window=64)
    parser.add_argument("--requests", type=int, default=2000, help="round trips per variant")
    args = parser.parse_args()
    plan = make_plan(1, 500)
    check_plain, check_sealed = check_rates(plan, encrypted_plan(plan))
    print(f"gateway checks encrypted/plain {check_sealed / check_plain:5.2f}")
    plain, sealed = compare_gateway(args.pairs, args.frames, args.window)
    rt_plain, rt_sealed = compare_round_trips(args.requests)
    print(f"gateway encrypted/plain  {sealed.frames_per_s / plain.frames_per_s:9.2f}")
    print(f"round trips encrypted/plain {rt_sealed / rt_plain:6.2f}")


if __name__ == "__main__":
    main()
