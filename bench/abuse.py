"""Abuse benchmark: every row of the gateway's attack table, with the limits on and off.

For each attack a fresh gateway (memory backend, loopback) is started twice: with the
default limits ("on") and with every limit setting at 0 ("off"). A victim pair (alice sends
to bob) measures its send-to-receive latency idle and while the attack runs in a separate
process; the gateway's peak RSS during the attack is sampled from /proc. Printed per row:
victim p50/p99 idle and under attack, peak RSS, and the attack's own outcome.

Usage: ``python bench/abuse.py [--quick] [--only NAME ...] [--large-frames N]``.
Not a test: figures depend on the machine; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import httpx  # noqa: E402
from support.attacks import (  # noqa: E402
    Victim,
    deep_frame,
    empty_arrays_metadata,
    flood,
    open_raw,
    percentile,
    register,
    register_bomb,
    rss_mb,
    signed_frame,
    slow_and_silent_sockets,
)
from support.gateway import GatewayProcess  # noqa: E402

from aiconexus.protocol import Identity, Message  # noqa: E402
from aiconexus_gateway.settings import LIMITS  # noqa: E402

LIMITS_OFF = {name.upper(): "0" for name in LIMITS}
LIMITS_ON = {"HANDSHAKE_TIMEOUT": "2"}  # the defaults, with a deadline the bench can wait out

# name -> (full count, quick count, description)
ATTACKS: dict[str, tuple[int, int, str]] = {
    "deep": (5000, 500, "frames nesting 253-1021 levels"),
    "register-bomb": (200, 30, "REGISTERs with 48 KB of empty arrays kept open"),
    "register-250k": (200, 30, "REGISTERs of 250 KB of empty arrays"),
    "flood-valid": (4, 2, "s of valid frames at full speed"),
    "flood-ping": (4, 2, "s of PINGs at full speed"),
    "flood-badsig": (4, 2, "s of bad-signature frames at full speed"),
    "churn": (3000, 300, "identities registered from one process"),
    "preauth": (1000, 200, "idle sockets that never REGISTER"),
    "slow-headers": (1000, 200, "sockets sending HTTP headers slowly (+ half as many silent)"),
    "offline-small": (100_000, 5000, "small frames to different offline DIDs"),
    "offline-large": (10_000, 100, "frames of 256 KiB to different offline DIDs"),
    "agents": (10_000, 200, "agents with 100 KB metadata, then GET /agents"),
}


async def _drain(ws: Any, codes: dict[str, int]) -> None:
    with contextlib.suppress(Exception):
        async for text in ws:
            data = json.loads(text)
            key = data["payload"]["code"] if data["type"] == "ERROR" else data["type"]
            codes[key] = codes.get(key, 0) + 1


def _outcome(reply: Message) -> str:
    """A reply's type, or its code if it is an ERROR."""
    return reply.type if reply.type != "ERROR" else str(reply.payload["code"])


async def _close_all(sockets: list[tuple[Any, str, str]]) -> None:
    for ws, _, _ in sockets:
        if ws is not None:
            await ws.close()


async def _registered(url: str, **options: Any) -> tuple[Any, str, str]:
    """A socket and its outcome: REGISTERED, an ERROR code, or 'closed'/'failed'."""
    identity = Identity.generate()
    try:
        ws, reply = await register(url, identity, **options)
    except Exception as exc:
        return None, "closed" if isinstance(exc, ConnectionError) else type(exc).__name__, ""
    return ws, _outcome(reply), reply.from_


def _count(outcomes: list[str]) -> dict[str, int]:
    counted: dict[str, int] = {}
    for outcome in outcomes:
        counted[outcome] = counted.get(outcome, 0) + 1
    return counted


async def attack(name: str, url: str, count: int) -> dict[str, Any]:
    """Run one attack against ``url``; a summary of what the attacker saw."""
    http = url.replace("ws://", "http://").rsplit("/ws", 1)[0]
    if name.startswith("flood-"):
        return dict(vars(await flood(url, name.split("-", 1)[1], float(count))))
    if name == "deep":
        codes: dict[str, int] = {}
        me, target, sent, closes = Identity.generate(), Identity.generate().did, 0, 0
        while sent < count:
            ws, reply = await register(url, me)
            reader = asyncio.create_task(_drain(ws, codes))
            with contextlib.suppress(Exception):
                while sent < count:
                    await ws.send(deep_frame(me, target, (253, 600, 1021)[sent % 3]))
                    sent += 1
                    if sent % 50 == 0:
                        await asyncio.sleep(0.05)  # let a close from the gateway arrive
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ws.wait_closed(), 0.5)
            closes += ws.close_code == 1008
            await ws.close()
            reader.cancel()
        return {"sent": sent, "answers": codes, "closed_by_gateway": closes}
    if name in ("register-bomb", "agents"):
        metadata: Any = (
            json.loads(empty_arrays_metadata(48_000))
            if name == "register-bomb"
            else {"blob": "x" * 100_000}
        )
        results = await asyncio.gather(
            *(_registered(url, metadata=metadata) for _ in range(count)), return_exceptions=False
        )
        summary: dict[str, Any] = {"register": _count([r[1] for r in results])}
        if name == "agents":
            started = time.perf_counter()
            async with httpx.AsyncClient(timeout=120) as client:
                response = await client.get(f"{http}/agents")
            summary["get_agents_s"] = round(time.perf_counter() - started, 3)
            summary["get_agents_mb"] = round(len(response.content) / 2**20, 1)
        await asyncio.sleep(0.5)
        await _close_all(results)
        return summary
    if name == "register-250k":
        bomb = empty_arrays_metadata(250_000)
        outcomes = []
        for _ in range(count):
            try:
                reply = await register_bomb(url, Identity.generate(), bomb)
                outcomes.append(_outcome(reply))
            except Exception as exc:
                outcomes.append(type(exc).__name__)
        return {"register": _count(outcomes)}
    if name == "churn":
        started = time.perf_counter()
        outcomes = []
        for first in range(0, count, 50):
            batch = await asyncio.gather(*(_registered(url) for _ in range(min(50, count - first))))
            outcomes += [outcome for _, outcome, _ in batch]
            await _close_all(batch)
        return {"register": _count(outcomes), "seconds": round(time.perf_counter() - started, 2)}
    if name == "preauth":
        sockets, refused = [], 0
        for _ in range(count):
            try:
                ws = await open_raw(url)
                await asyncio.wait_for(ws.recv(), 5)
                sockets.append(ws)
            except Exception:
                refused += 1
        _, legit, _ = await _registered(url)
        for ws in sockets:
            await ws.close()
        return {"idle_open": len(sockets), "refused": refused, "legit_client": legit}
    if name == "slow-headers":
        port = int(http.rsplit(":", 1)[1])
        opened = await slow_and_silent_sockets(port, slow=count, silent=count // 2)
        await asyncio.sleep(1.0)
        pending = None
        async with httpx.AsyncClient(timeout=5) as client:
            with contextlib.suppress(httpx.HTTPError):
                pending = (await client.get(f"{http}/health")).json().get("tcp_pending")
        await asyncio.sleep(3.0)
        still_open = 0
        for sock in opened:
            try:
                still_open += sock.recv(1) != b""
            except BlockingIOError:
                still_open += 1
            except OSError:
                pass
            sock.close()
        _, legit, _ = await _registered(url)
        return {
            "opened": len(opened),
            "tcp_pending_at_1s": pending,
            "open_after_4s": still_open,
            "legit_client": legit,
        }
    if name.startswith("offline-"):
        size = 250_000 if name == "offline-large" else 64
        me = Identity.generate()
        ws, reply = await register(url, me)
        answers: dict[str, int] = {}
        reader = asyncio.create_task(_drain(ws, answers))
        payload = {"sdp": "x" * size}
        with contextlib.suppress(Exception):
            for _ in range(count):
                frame = signed_frame(me, "OFFER", Identity.generate().did, payload, sign=True)
                await ws.send(frame)
        await asyncio.sleep(2.0)
        reader.cancel()
        await ws.close()
        return {"sent": count, "answers": answers}
    raise ValueError(name)


async def _row(name: str, count: int, limits: str) -> dict[str, Any]:
    env = {"STORAGE_TYPE": "memory", "LOG_LEVEL": "WARNING"}
    env.update(LIMITS_ON if limits == "on" else LIMITS_OFF)
    workdir = Path(tempfile.mkdtemp(prefix="bench-abuse-"))
    with GatewayProcess(env, workdir) as gateway:
        assert gateway.process is not None
        pid = gateway.process.pid
        victim = await Victim.open(gateway.ws_url)
        idle = await victim.measure(100)
        base_rss = rss_mb(pid)
        child = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--attack", name, gateway.ws_url, str(count),
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        output = asyncio.create_task(child.communicate())
        samples: list[float] = []
        peak = base_rss
        while not output.done():
            with contextlib.suppress(Exception):
                samples += await asyncio.wait_for(victim.measure(10), 15)
            with contextlib.suppress(OSError):
                peak = max(peak, rss_mb(pid))
        out, _ = await output
        with contextlib.suppress(Exception):
            await victim.close()
        log = gateway.log()
    lines = out.decode().strip().splitlines()
    return {
        "idle": (percentile(idle, 0.5), percentile(idle, 0.99)),
        "attack": (percentile(samples, 0.5), percentile(samples, 0.99)) if samples else None,
        "rss": (base_rss, peak),
        "outcome": json.loads(lines[-1]) if lines else {"error": "no output"},
        "tracebacks": log.count("Traceback"),
        "log_kb": len(log.encode()) / 1024,
    }


def _print(name: str, limits: str, row: dict[str, Any]) -> None:
    idle, under, (base, peak) = row["idle"], row["attack"], row["rss"]
    during = f"{under[0]:6.2f} / {under[1]:7.2f}" if under else "   (no samples)  "
    print(
        f"{name:<14} {limits:<3} idle p50/p99 {idle[0]:5.2f} / {idle[1]:6.2f} ms  "
        f"attack {during} ms  RSS {base:5.0f} -> {peak:6.0f} MiB  "
        f"log {row['log_kb']:7.1f} KiB  tracebacks {row['tracebacks']}"
    )
    print(f"{'':<19}{json.dumps(row['outcome'])[:300]}", flush=True)


def main() -> None:
    """Parse arguments; run the rows (or, in a child, one attack)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts (about 2 minutes)")
    parser.add_argument("--only", nargs="*", choices=list(ATTACKS), help="run only these rows")
    parser.add_argument("--large-frames", type=int, help="frames of the offline-large row")
    parser.add_argument(
        "--attack", nargs=3, metavar=("NAME", "URL", "COUNT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.attack:
        name, url, count = args.attack
        print(json.dumps(asyncio.run(attack(name, url, int(count)))), flush=True)
        return
    for name in args.only or list(ATTACKS):
        full, quick, what = ATTACKS[name]
        count = quick if args.quick else full
        if name == "offline-large" and args.large_frames:
            count = args.large_frames
        print(f"== {name}: {count} {what}")
        for limits in ("on", "off"):
            _print(name, limits, asyncio.run(_row(name, count, limits)))


if __name__ == "__main__":
    main()
