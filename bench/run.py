"""Gateway benchmark: every headline figure as a ratio from one run, printed and saved as JSON.

Measured in one run, on loopback only, each target a fresh process:
1. throughput: a bare FastAPI/uvicorn forward-only relay (bench/bare_relay.py), the gateway
   with VERIFY_SIGNATURES=true (its default verifier, then inline with
   GATEWAY_CRYPTO_THREADS=0; single-core PyNaCl verify rate read just before and after them;
   the mean is used) and with =false, all driving the same pre-signed frames;
2. latency: 4 pairs with 1 frame in flight each, through the bare relay and the verifying
   gateway (one-way p99);
3. memory: the gateway's resident set size per idle registered agent (bench/idle.py);
4. cluster: one node in memory, one node on Redis, two nodes on Redis with every frame
   crossing from node A to node B, in alternating rounds (bench/cluster_rounds.py; a
   throw-away redis-server, whose CPU and commands per frame are printed; skipped when
   there is none);
5. costs of the guarantees: verified frames/s with recipient acknowledgements vs without
   (bench/acks.py), and frames/s into the offline store with SQLite vs memory
   (bench/store.py);
6. end-to-end encrypted payloads (bench/encryption.py): the gateway's per-frame checks in
   process, its verified frames/s and SDK ``request()`` round trips/s, encrypted vs plain;
7. backlogs (bench/backlog.py): frames/s an SDK client drains from a backlog of 20,000
   stored frames (2,000 with --quick) on each store, as a ratio to live verified routing;
8. the A2A bridge (bench/a2a_bridge.py): A2A ``SendMessage`` round trips/s against SDK
   ``request()`` round trips/s through one gateway running the bridge, and the bridge's CPU
   per call (skipped without the a2a extra);
9. the MCP bridge (bench/mcp_bridge.py): ``tools/call`` round trips/s over Streamable HTTP
   vs SDK ``request()`` round trips/s, through one gateway;
10. the native batch verifier (bench/native_verify.py), in this process: Ed25519 verifies/s
   of PyNaCl on one core, the native batch on 1 and N threads (N = cores) and through
   AsyncBatchVerifier, as ratios to PyNaCl in the same run, with the CPU used (cores busy).
Every line shows the load generator's own CPU: near 100 % of a core, the generator is the
bound of that line. Frames are signed before any timing. Usage:
``python bench/run.py [--quick] [--json artifacts/bench.json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import acks
import backlog
import encryption
import mcp_bridge
import native_verify
import store
from cluster import redis_server
from cluster_rounds import cluster_rounds
from driver import make_plan
from idle import idle_agents
from measure import Line, measure, verify_rate
from processes import bare_relay, gateway

ROOT = Path(__file__).resolve().parent.parent
CLUSTER_ROUNDS = 3
"""Alternating rounds of the cluster lines in a full run (one in quick mode)."""

AIMS = {
    "verified_per_verify_rate": (">=", 1.0),
    "unverified_per_bare_relay": (">=", 0.9),
    "verified_p99_ms_4x1": ("<=", 0.7),
    "rss_kb_per_idle_agent": ("<=", 14.0),
    "redis_two_nodes_per_memory_node": (">=", 0.8),
    "redis_one_node_per_memory_node": (">=", 0.8),
    **{f"backlog_{store}_per_verified": (">=", 0.5) for store in backlog.STORES},
    "a2a_per_sdk_round_trips": (">=", 0.5),
    "mcp_tools_call_per_request": (">=", 0.5),
    "native_threads_per_pynacl": (">=", 1.8),  # on 2 cores: ~2x, scaling with cores
}


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small runs: checks that it works")
    parser.add_argument("--json", default=str(ROOT / "artifacts" / "bench.json"), help="output")
    parser.add_argument("--pairs", type=int, help="sender/receiver pairs (throughput, cluster)")
    parser.add_argument("--frames", type=int, help="frames per pair (throughput)")
    parser.add_argument("--cluster-frames", type=int, help="frames per pair (cluster)")
    parser.add_argument("--latency-frames", type=int, help="frames per pair (latency, 4 pairs)")
    parser.add_argument("--agents", type=int, help="idle registered agents (memory)")
    parser.add_argument("--cost-frames", type=int, help="frames per pair (acks, store)")
    parser.add_argument("--window", type=int, default=64, help="frames in flight per pair")
    args = parser.parse_args()
    # idle agents, even quick: 1000 (with 200, one allocator arena of 1 MiB is 5 kB per agent)
    defaults = (4, 500, 300, 200, 1000, 300) if args.quick else (8, 10000, 4000, 2000, 3000, 2500)
    names = ("pairs", "frames", "cluster_frames", "latency_frames", "agents", "cost_frames")
    for name, default in zip(names, defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, default)
    return args


def main() -> int:
    """Run every measurement, print the lines and the summary, write the JSON record."""
    args = _arguments()
    started = time.perf_counter()
    load_before = os.getloadavg()
    rate_seconds = 0.3 if args.quick else 1.5
    print(f"cores: {os.cpu_count()}  load average: {load_before[0]:.2f}", flush=True)
    lines: dict[str, Line] = {}

    plan = make_plan(args.pairs, args.frames)
    print(f"throughput: {args.pairs} pairs x {args.frames} frames, window {args.window}")
    lines["bare"] = measure("bare relay", [bare_relay()], plan, dialect="bare", window=args.window)
    first = verify_rate(rate_seconds)
    lines["verified"] = measure("gateway, verify on", [gateway(verify=True)], plan)
    inline = {"GATEWAY_CRYPTO_THREADS": "0"}
    lines["verified_inline"] = measure(
        "gateway, verify on, inline", [gateway(verify=True, extra=inline)], plan
    )
    second = verify_rate(rate_seconds)
    rate = (first + second) / 2
    name = "PyNaCl verify, one core"
    print(f"{name:<34} {rate:>9,.0f} verifies/s ({first:,.0f} / {second:,.0f})", flush=True)
    lines["unverified"] = measure("gateway, verify off", [gateway(verify=False)], plan)

    latency = make_plan(4, args.latency_frames)
    print(f"latency: 4 pairs x {args.latency_frames} frames, 1 in flight each")
    lines["bare_4x1"] = measure(
        "bare relay, 4x1", [bare_relay()], latency, dialect="bare", window=1
    )
    lines["verified_4x1"] = measure(
        "gateway, verify on, 4x1", [gateway(verify=True)], latency, window=1
    )

    with gateway(verify=True) as service:
        idle = asyncio.run(idle_agents(service.ws_url, args.agents, service.rss_kb))
    print(
        f"{'idle agents':<34} {idle.kb_per_agent:>9.1f} kB RSS per agent ({idle.agents} agents: "
        f"{idle.rss_before_kb:,} -> {idle.rss_after_kb:,} kB; generator "
        f"{idle.client_cpu_s / idle.seconds:.0%} of a core)",
        flush=True,
    )

    cluster_costs = _cluster(args, lines)
    ratios = _ratios(lines, rate, idle.kb_per_agent)
    ratios.update(cluster_costs)
    print("costs of the guarantees", flush=True)
    plain, acknowledged = acks.compare(args.pairs, args.cost_frames, args.window)
    memory, sqlite = store.compare(args.pairs, args.cost_frames, 4 * args.window)
    ratios["recipient_acks_per_plain"] = round(acknowledged / plain, 3)
    ratios["sqlite_per_memory_store"] = round(sqlite / memory, 3)
    crypto = _encryption(args, lines)
    ratios.update(crypto)
    drained = backlog.measure(2_000 if args.quick else 20_000)
    for name in backlog.STORES:
        rate_of = drained.get(name)
        ratios[f"backlog_{name}_per_verified"] = (
            None if rate_of is None else round(rate_of / lines["verified"].frames_per_s, 3)
        )
    ratios.update(_a2a_bridge(args))
    print("MCP bridge", flush=True)
    sdk_trips, mcp_trips = mcp_bridge.compare(200 if args.quick else 1000)
    ratios["mcp_tools_call_per_s"] = round(mcp_trips, 1)
    ratios["mcp_tools_call_per_request"] = round(mcp_trips / sdk_trips, 3)
    print(f"native batch verifier: batches of 256, {os.cpu_count()} cores", flush=True)
    ratios.update(native_verify.compare(4_000 if args.quick else 40_000))
    record = {
        "quick": args.quick,
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": load_before[0],
            "load_average_after": os.getloadavg()[0],
        },
        "verify_rate_per_s": {"before": first, "after": second, "mean": rate},
        "lines": {key: line.as_dict() for key, line in lines.items()},
        "idle_memory": {
            "agents": idle.agents,
            "rss_before_kb": idle.rss_before_kb,
            "rss_after_kb": idle.rss_after_kb,
            "kb_per_agent": round(idle.kb_per_agent, 2),
        },
        "figures": ratios,
        "aims": {name: f"{op} {value}" for name, (op, value) in AIMS.items()},
        "seconds": round(time.perf_counter() - started, 1),
    }
    _summary(ratios, lines)
    target = Path(args.json)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"written to {target} (total {record['seconds']:.0f} s)", flush=True)
    return 0


def _cluster(args: argparse.Namespace, lines: dict[str, Line]) -> dict[str, float]:
    """One node in memory, one on Redis, two on Redis (A -> B), in alternating rounds.

    Returns redis-server's CPU per routed frame and its commands per frame, per variant.
    """
    if shutil.which("redis-server") is None:
        print("cluster: skipped (no redis-server; make system-deps installs it)", flush=True)
        return {}
    plan = make_plan(args.pairs, args.cluster_frames)
    rounds = 1 if args.quick else CLUSTER_ROUNDS
    print(
        f"cluster: {args.pairs} pairs x {args.cluster_frames} frames, window {args.window},"
        f" {rounds} alternating round(s)"
    )
    key_file = str(Path(tempfile.mkdtemp(prefix="bench-cluster-")) / "gateway.key")
    with ExitStack() as stack:
        base = stack.enter_context(redis_server())
        found, costs = cluster_rounds(base, plan, key_file, rounds=rounds, window=args.window)
    lines.update(found)
    figures: dict[str, float] = {}
    for name, cost in costs.items():
        figures[f"{name}_redis_cpu_us_per_frame"] = round(cost.cpu_us_per_frame(), 2)
        figures[f"{name}_redis_commands_per_frame"] = round(sum(cost.per_frame().values()), 3)
    return figures


def _encryption(args: argparse.Namespace, lines: dict[str, Line]) -> dict[str, float]:
    """Encrypted vs plain: gateway checks in process, gateway frames/s, SDK round trips/s."""
    print("end-to-end encrypted payloads", flush=True)
    small = make_plan(1, 500)
    checks_plain, checks_sealed = encryption.check_rates(small, encryption.encrypted_plan(small))
    rounds = 1 if args.quick else 2
    plain, sealed = encryption.compare_gateway(args.pairs, args.cost_frames, args.window, rounds)
    lines["plain_payloads"], lines["encrypted_payloads"] = plain, sealed
    trips_plain, trips_sealed = encryption.compare_round_trips(200 if args.quick else 2000)
    return {
        "encrypted_per_plain_gateway_checks": round(checks_sealed / checks_plain, 3),
        "encrypted_per_plain_gateway": round(sealed.frames_per_s / plain.frames_per_s, 3),
        "encrypted_per_plain_server_cpu": round(
            sealed.server_cpu_us_per_frame / plain.server_cpu_us_per_frame, 3
        ),
        "round_trips_per_s_plain": round(trips_plain, 1),
        "round_trips_per_s_encrypted": round(trips_sealed, 1),
        "encrypted_per_plain_round_trips": round(trips_sealed / trips_plain, 3),
    }


def _a2a_bridge(args: argparse.Namespace) -> dict[str, float | None]:
    """A2A SendMessage vs SDK request() round trips, and the bridge's CPU per call."""
    print("A2A bridge", flush=True)
    try:
        import a2a_bridge
    except ImportError as exc:
        print(f"A2A bridge: skipped ({exc}; pip install 'aiconexus-gateway[a2a]')", flush=True)
        return {"a2a_per_sdk_round_trips": None, "a2a_bridge_cpu_us_per_call": None}
    sdk, a2a = a2a_bridge.compare(200 if args.quick else 2000)
    return {
        "sdk_round_trips_per_s": round(sdk.per_s, 1),
        "a2a_round_trips_per_s": round(a2a.per_s, 1),
        "a2a_per_sdk_round_trips": round(a2a.per_s / sdk.per_s, 3),
        "a2a_bridge_cpu_us_per_call": round(
            a2a.server_cpu_us_per_call - sdk.server_cpu_us_per_call, 1
        ),
    }


def _ratios(lines: dict[str, Line], rate: float, kb_per_agent: float) -> dict[str, float | None]:
    def over(a: str, b: str) -> float | None:
        if a not in lines or b not in lines:
            return None
        return round(lines[a].frames_per_s / lines[b].frames_per_s, 3)

    return {
        "verified_per_verify_rate": round(lines["verified"].frames_per_s / rate, 3),
        "verified_inline_per_verify_rate": round(lines["verified_inline"].frames_per_s / rate, 3),
        "unverified_per_bare_relay": over("unverified", "bare"),
        # frames per server CPU-second: steadier than frames/s on a shared machine, and not
        # bound by the load generator (which the bare relay often is)
        "unverified_per_bare_relay_cpu": round(
            lines["bare"].server_cpu_us_per_frame / lines["unverified"].server_cpu_us_per_frame, 3
        ),
        "verified_p99_ms_4x1": round(lines["verified_4x1"].p99_ms, 3),
        "bare_p99_ms_4x1": round(lines["bare_4x1"].p99_ms, 3),
        "rss_kb_per_idle_agent": round(kb_per_agent, 2),
        "redis_two_nodes_per_memory_node": over("redis_two_nodes", "memory_node"),
        "redis_one_node_per_memory_node": over("redis_one_node", "memory_node"),
    }


def _summary(ratios: dict[str, Any], lines: dict[str, Line]) -> None:
    shares = ", ".join(f"{k} {v.generator_core_share:.0%}" for k, v in lines.items())
    print("\nfigure                                   value    aim")
    for name, (op, aim) in AIMS.items():
        value = ratios.get(name)
        shown = "skipped" if value is None else f"{value:8.2f}"
        extra = f"  (bare relay {ratios['bare_p99_ms_4x1']:.2f} ms)" if name.endswith("4x1") else ""
        print(f"{name:<38} {shown:>8}    {op} {aim:g}{extra}")
    print(
        f"{'verified_inline_per_verify_rate':<38} {ratios['verified_inline_per_verify_rate']:>8.2f}"
        "    (GATEWAY_CRYPTO_THREADS=0: every signature on the event loop)"
    )
    cpu = ratios["unverified_per_bare_relay_cpu"]
    print(f"{'unverified_per_bare_relay_cpu':<38} {cpu:>8.2f}    (frames per server CPU-second)")
    for name in ("recipient_acks_per_plain", "sqlite_per_memory_store"):
        print(f"{name:<38} {ratios[name]:>8.2f}    (cost, no aim)")
    for name in (
        "encrypted_per_plain_gateway_checks",
        "encrypted_per_plain_gateway",
        "encrypted_per_plain_server_cpu",
        "encrypted_per_plain_round_trips",
    ):
        print(f"{name:<38} {ratios[name]:>8.2f}    (cost, no aim)")
    print(
        f"{'round trips/s plain, encrypted':<38} {ratios['round_trips_per_s_plain']:>8,.0f}"
        f" {ratios['round_trips_per_s_encrypted']:>8,.0f}"
    )
    if ratios.get("a2a_bridge_cpu_us_per_call") is not None:
        print(
            f"{'bridge CPU per A2A call, us':<38} {ratios['a2a_bridge_cpu_us_per_call']:>8,.0f}"
            "    (gateway process, beyond an SDK request())"
        )
    if ratios.get("native_threads_cores_busy") is not None:
        print(
            f"{'native batch on N threads, cores busy':<38} "
            f"{ratios['native_threads_cores_busy']:>8.2f}    (CPU s / wall s, this process)"
        )
    print(f"load generator, share of one core: {shares}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
