"""The cluster lines in alternating rounds: memory node, one Redis node, two Redis nodes.

On a shared machine the load changes during a run; each round measures the three variants
one after the other with fresh processes (and a flushed Redis database), and each variant's
figure sums its rounds, so a change of load falls on all three alike. For the Redis
variants the redis-server's own CPU and its commands per routed frame are read from
``INFO cpu`` and ``INFO commandstats`` around each measurement.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from cluster import flush, redis_node
from driver import LoadPlan
from measure import Line, measure
from processes import gateway

__all__ = ["RedisCost", "cluster_rounds"]

VARIANTS = ("memory_node", "redis_one_node", "redis_two_nodes")


@dataclass
class RedisCost:
    """What redis-server did for one variant, summed over its rounds."""

    frames: int = 0
    cpu_s: float = 0.0
    commands: dict[str, int] = field(default_factory=dict)

    def cpu_us_per_frame(self) -> float:
        """redis-server CPU microseconds per routed frame."""
        return self.cpu_s / max(1, self.frames) * 1e6

    def per_frame(self) -> dict[str, float]:
        """Commands per routed frame, by command (the most frequent first, rare ones left out)."""
        ranked = sorted(self.commands.items(), key=lambda kv: -kv[1])
        return {k: round(v / max(1, self.frames), 3) for k, v in ranked if v >= self.frames / 100}


def _redis_counters(base: str) -> tuple[float, dict[str, int]]:
    import redis

    client = redis.Redis.from_url(base)
    try:
        cpu = client.info("cpu")
        stats = client.info("commandstats")
    finally:
        client.close()
    calls = {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}
    return float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"]), calls


def _sum(name: str, lines: list[Line]) -> Line:
    frames = sum(line.frames for line in lines)
    seconds = sum(line.seconds for line in lines)
    server = sum(line.server_cpu_us_per_frame * line.frames for line in lines) / frames
    generator_us = sum(line.generator_cpu_us_per_frame * line.frames for line in lines) / frames
    return Line(
        name=name,
        frames=frames,
        seconds=seconds,
        frames_per_s=frames / seconds,
        p50_ms=statistics.median(line.p50_ms for line in lines),
        p99_ms=max(line.p99_ms for line in lines),
        server_cpu_us_per_frame=server,
        generator_cpu_us_per_frame=generator_us,
        generator_core_share=generator_us * frames / 1e6 / seconds,
    )


def cluster_rounds(
    base: str, plan: LoadPlan, key_file: str, *, rounds: int, window: int = 64
) -> tuple[dict[str, Line], dict[str, RedisCost]]:
    """Measure the three variants ``rounds`` times each, in turn; their summed lines.

    ``base``: the redis-server's URL without a database (databases 1 and 2 are flushed).
    """
    measured: dict[str, list[Line]] = {name: [] for name in VARIANTS}
    costs = {name: RedisCost() for name in VARIANTS[1:]}
    for turn in range(rounds):
        tag = f" (round {turn + 1}/{rounds})"
        memory = gateway(verify=True)
        measured["memory_node"].append(
            measure("one node, memory" + tag, [memory], plan, window=window)
        )
        for name in VARIANTS[1:]:
            url = flush(base, 1 if name == "redis_one_node" else 2)
            cpu, calls = _redis_counters(base)
            if name == "redis_one_node":
                solo = redis_node(url, "solo", key_file)
                line = measure("one node, redis" + tag, [solo], plan, window=window)
            else:
                nodes = [redis_node(url, "node-a", key_file), redis_node(url, "node-b", key_file)]
                line = measure(
                    "two nodes, redis, A -> B" + tag,
                    nodes,
                    plan,
                    window=window,
                    sender_node=0,
                    receiver_node=1,
                )
            cpu_after, calls_after = _redis_counters(base)
            cost = costs[name]
            cost.frames += line.frames
            cost.cpu_s += cpu_after - cpu
            for command, count in calls_after.items():
                cost.commands[command] = (
                    cost.commands.get(command, 0) + count - calls.get(command, 0)
                )
            measured[name].append(line)
    lines = {name: _sum(name, found) for name, found in measured.items()}
    for name, cost in costs.items():
        print(
            f"{'redis-server, ' + name:<34} {cost.cpu_us_per_frame():9.1f} us CPU/frame"
            f"  commands/frame {cost.per_frame()}",
            flush=True,
        )
    for name, line in lines.items():
        print(
            f"{name + ', all rounds':<34} {line.frames_per_s:>9,.0f} frames/s"
            f"  CPU/frame server {line.server_cpu_us_per_frame:4.0f} us",
            flush=True,
        )
    return lines, costs
