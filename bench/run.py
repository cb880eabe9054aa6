"""Gateway benchmark: routed messages/s and latency, next to a bare relay and the verify rate.

Measured in one run, on loopback only:
1. single-core PyNaCl Ed25519 verify rate (the bound of a verifying gateway on one core);
2. a bare FastAPI/uvicorn forward-only relay (bench/bare_relay.py);
3. the gateway with VERIFY_SIGNATURES=true and =false (each a fresh process).
Frames are signed before any timing; each run uses the same pre-signed frames against a new
process (so replay detection never trips). The verify rate is measured just before and just
after the verifying gateway run (the machine may be shared), and the mean is used.
"server CPU" is the CPU time (all threads) of the server process per routed message: less
sensitive than msg/s to other load on the machine. Usage: ``python bench/run.py [--pairs N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from driver import Dialect, LoadPlan, LoadResult, make_plan, run_load
from processes import Service, bare_relay, gateway


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


def _measure(
    name: str, service: Service, plan: LoadPlan, dialect: Dialect, window: int
) -> LoadResult:
    with service:
        before = service.cpu_seconds()
        result = asyncio.run(
            run_load(plan, [service.ws_url], [service.ws_url], dialect=dialect, window=window)
        )
        cpu_us = (service.cpu_seconds() - before) / result.frames * 1e6
    acks = f", {result.acks} ACKs" if dialect == "ioap" else ""
    print(
        f"{name:<26} {result.rate:>9,.0f} msg/s  p50 {result.p50:6.2f} ms  "
        f"p99 {result.p99:6.2f} ms  CPU/msg server {cpu_us:3.0f} us, "
        f"load generator {result.client_cpu_s / result.frames * 1e6:3.0f} us  "
        f"({result.frames} frames in {result.seconds:.1f} s{acks})",
        flush=True,
    )
    return result


def main() -> int:
    """Run every measurement and print the figures and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=8, help="sender/receiver pairs")
    parser.add_argument("--frames", type=int, default=10000, help="frames per pair")
    parser.add_argument("--window", type=int, default=64, help="frames in flight per pair")
    args = parser.parse_args()

    print(f"cores: {os.cpu_count()}  pairs: {args.pairs}  frames/pair: {args.frames}", flush=True)
    started = time.perf_counter()
    plan = make_plan(args.pairs, args.frames)
    print(f"signed {plan.total} frames in {time.perf_counter() - started:.1f} s", flush=True)
    bare = _measure("bare FastAPI relay", bare_relay(), plan, "bare", args.window)
    first = verify_rate()
    on = _measure("gateway, verify on", gateway(verify=True), plan, "ioap", args.window)
    second = verify_rate()
    rate = (first + second) / 2
    print(
        f"{'PyNaCl verify, one core':<26} {rate:>9,.0f} verifies/s "
        f"(before/after the gateway run: {first:,.0f} / {second:,.0f})",
        flush=True,
    )
    off = _measure("gateway, verify off", gateway(verify=False), plan, "ioap", args.window)
    print(
        f"ratios: gateway(verify on)/verify-rate {on.rate / rate:.2f}   "
        f"gateway(verify on)/bare {on.rate / bare.rate:.2f}   "
        f"gateway(verify off)/bare {off.rate / bare.rate:.2f}   "
        f"(total {time.perf_counter() - started:.0f} s)",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
