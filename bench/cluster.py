"""Cluster benchmark: routed messages/s and latency across gateway nodes sharing Redis.

Measured in one run, with the same pre-signed frames (bench/driver.py) against fresh
processes and a fresh Redis database each time, on loopback only:
1. one node, memory backend (the single-node figure);
2. one node, Redis backend (senders and receivers on the same node);
3. two nodes, Redis backend: every sender on node A, every receiver on node B, so each
   frame crosses nodes through Redis;
4. one port, GATEWAY_WORKERS=2 (two nodes in one service; the kernel spreads connections).
A redis-server is started on a free port unless ``--redis-url`` names one (whose numbered
databases 1..4 are then flushed). Usage: ``python bench/cluster.py [--pairs N] ...``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from driver import load_options, make_plan
from measure import measure
from processes import Service, free_port, gateway


@contextmanager
def redis_server() -> Iterator[str]:
    """A throw-away redis-server on a free loopback port; yields its base URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="bench-redis-")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", workdir],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while (
            subprocess.run(
                ["redis-cli", "-p", str(port), "ping"], capture_output=True, check=False
            ).stdout.strip()
            != b"PONG"
        ):
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit("redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


def flush(base_url: str, database: int) -> str:
    """Empty one numbered database of the server; returns its URL."""
    import redis

    url = f"{base_url}/{database}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url


def redis_node(url: str, node_id: str, key_file: str, workers: int = 1) -> Service:
    """A verifying gateway node on the Redis backend."""
    return gateway(
        verify=True,
        extra={
            "STORAGE_TYPE": "redis",
            "REDIS_URL": url,
            "NODE_ID": node_id,
            "GATEWAY_KEY_FILE": key_file,
            "GATEWAY_WORKERS": str(workers),
        },
    )


def main() -> int:
    """Run the four measurements and print them side by side."""
    parser = load_options(__doc__, frames=4000, window=64)
    parser.add_argument("--redis-url", help="use this Redis server (databases 1..4 flushed)")
    parser.add_argument("--pin", type=int, help="run the load generator on this CPU only")
    args = parser.parse_args()

    print(f"cores: {os.cpu_count()}  pairs: {args.pairs}  frames/pair: {args.frames}", flush=True)
    plan = make_plan(args.pairs, args.frames)
    key_file = str(Path(tempfile.mkdtemp(prefix="bench-cluster-")) / "gateway.key")
    with ExitStack() as stack:
        base = args.redis_url.rstrip("/") if args.redis_url else stack.enter_context(redis_server())
        if args.redis_url and base.count("/") > 2:
            base = base.rsplit("/", 1)[0]
        options = {"window": args.window, "pin": args.pin}
        single = measure("one node, memory", [gateway(verify=True)], plan, **options)
        solo = redis_node(flush(base, 1), "solo", key_file)
        one = measure("one node, redis", [solo], plan, **options)
        url = flush(base, 2)
        cross = measure(
            "two nodes, redis, A -> B",
            [redis_node(url, "node-a", key_file), redis_node(url, "node-b", key_file)],
            plan,
            sender_node=0,
            receiver_node=1,
            **options,
        )
        node = redis_node(flush(base, 3), "workers", key_file, workers=2)
        workers = measure("one port, 2 workers, redis", [node], plan, **options)
    single_rate = single.frames_per_s
    print(
        f"cluster/single: A->B {cross.frames_per_s / single_rate:.2f}   "
        f"redis one node {one.frames_per_s / single_rate:.2f}   "
        f"2 workers {workers.frames_per_s / single_rate:.2f}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
