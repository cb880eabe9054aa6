"""SDK ``request()`` round trips/s, and the CPU one round trip costs in each process.

One verifying gateway (memory backend, a subprocess); an SDK ``Agent`` answers the
EXEC_REQUESTs (300-character argument) that one ``GatewayClient`` sends with ``request()``,
``concurrency`` in flight, as ``make bench`` measures them (bench/encryption.py, plain). The
agent runs in this process with the client (as in ``make bench``), or with ``--agent-process``
in a process of its own, so that the CPU of each side is told apart. Each of ``rounds``
rounds prints round trips/s and the CPU microseconds per round trip of every process
(user + system); the summary gives the best and the median round.

Where the rate stops: the processes share the machine's cores, so the rate is at most
``cores / (sum of CPU per round trip)``, and at most ``1 / CPU per round trip`` of the busiest
process (each runs one event loop on one core).

Usage: ``python bench/sdk_requests.py [--requests N] [--rounds N] [--concurrency N]
[--agent-process]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from processes import cpu_seconds, gateway

from aiconexus import Agent, GatewayClient, Identity, Message

__all__ = ["Round", "measure"]

ARGS = {"text": "q" * 300}


@dataclass(frozen=True)
class Round:
    """One round: round trips/s and CPU microseconds per round trip in each process."""

    per_s: float
    cpu_us: dict[str, float]


def _agent() -> Agent:
    agent = Agent(Identity.generate(), capabilities=["bench-echo"])

    @agent.on("EXEC_REQUEST")
    async def echo(message: Message) -> object:
        return message.payload["args"]

    return agent


async def _serve(url: str) -> None:
    """``--serve``: the agent alone, its DID on stdout, until stdin closes."""
    agent = _agent()
    async with agent.connect(url):
        print(agent.did, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


async def _rounds(
    url: str,
    requests: int,
    rounds: int,
    concurrency: int,
    cpu: dict[str, Callable[[], float]],
    did: str | None,
) -> list[Round]:
    async with contextlib.AsyncExitStack() as stack:
        if did is None:
            agent = _agent()
            await stack.enter_async_context(agent.connect(url))
            did = agent.did
        client = await stack.enter_async_context(GatewayClient(url, Identity.generate()))
        target = did
        for _ in range(20):  # warm up both ends
            await client.request(target, ARGS)
        results = []
        for _ in range(rounds):
            remaining = [requests]

            async def worker(remaining: list[int] = remaining) -> None:
                while remaining[0] > 0:
                    remaining[0] -= 1
                    await client.request(target, ARGS)

            before = {name: read() for name, read in cpu.items()}
            start = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            seconds = time.perf_counter() - start
            used = {name: 1e6 * (read() - before[name]) / requests for name, read in cpu.items()}
            results.append(Round(requests / seconds, used))
            shown = "  ".join(f"{name} {us:5.0f}" for name, us in used.items())
            print(f"{requests / seconds:8,.0f} request()/s   CPU us per round trip: {shown}")
    return results


def measure(
    requests: int, rounds: int = 3, concurrency: int = 8, agent_process: bool = False
) -> list[Round]:
    """``rounds`` rounds of ``requests`` round trips through a fresh verifying gateway."""
    here = "client+agent" if not agent_process else "client"
    with gateway(verify=True) as service:
        assert service.process is not None
        cpu: dict[str, Callable[[], float]] = {
            here: lambda: sum(os.times()[:2]),
            "gateway": service.cpu_seconds,
        }
        if not agent_process:
            return asyncio.run(_rounds(service.ws_url, requests, rounds, concurrency, cpu, None))
        command = [sys.executable, __file__, "--serve", service.ws_url]
        with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE) as served:
            assert served.stdout is not None and served.stdin is not None
            did = served.stdout.readline().decode().strip()
            cpu["agent"] = lambda: cpu_seconds(served.pid)
            try:
                return asyncio.run(_rounds(service.ws_url, requests, rounds, concurrency, cpu, did))
            finally:
                served.stdin.close()
                served.wait(10)


def main() -> None:
    """Measure and print the rounds, then the best and the median."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="round trips per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8, help="request()s in flight")
    parser.add_argument("--agent-process", action="store_true", help="the agent apart")
    parser.add_argument("--serve", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve(args.serve))
        return
    results = measure(args.requests, args.rounds, args.concurrency, args.agent_process)
    rates = [r.per_s for r in results]
    print(f"best {max(rates):,.0f} request()/s, median {statistics.median(rates):,.0f}")
    for name in results[0].cpu_us:
        median = statistics.median(r.cpu_us[name] for r in results)
        print(f"  {name:<13} median CPU {median:6.0f} us per round trip")


if __name__ == "__main__":
    main()
