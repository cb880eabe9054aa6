"""SDK scenarios that test_docker_cluster.sh runs against the gateway cluster in containers.

The cluster is two gateway nodes sharing Redis and one signing key, behind nginx. Clients
connect through nginx (--lb-port); the nodes are also asked directly (--node-port, twice).
Each sub-command prints one line per check and exits 0, or prints the failure and exits 1:

    nodes     both nodes answer /health 200 with backend redis, the same gateway DID and
              their own node_id; print the DID
    register  two clients register through nginx; /agents of BOTH nodes lists both, with
              their capabilities
    exchange  EXEC_REQUEST/EXEC_RESPONSE between an Agent and a client through nginx
    failover  two clients through nginx exchange EXEC_REQUEST/EXEC_RESPONSE; the node that
              holds most of their connections is killed (`docker kill`, --node PORT=CONTAINER
              names the container of each node port); the clients reconnect through nginx to
              the other node, which then holds both connections and lists both agents, and
              they exchange again

Every wait is bounded by --timeout seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
import uuid
from typing import Any

import httpx
from docker_checks import CheckFailed, check, http_get

from aiconexus import Agent, ConnectionState, GatewayClient, Identity, Message

__all__ = ["main"]


def node_get(port: int, path: str, timeout: float) -> tuple[int, Any]:
    """GET http://127.0.0.1:port+path and return the status code and the decoded JSON body."""
    return http_get(f"http://127.0.0.1:{port}", path, timeout)


def agent_dids(port: int, timeout: float) -> dict[str, Any]:
    """Map DID to entry for the /agents answer of the node (or balancer) at `port`."""
    status, body = node_get(port, "/agents", timeout)
    check(status == 200, f"GET /agents on port {port} answered 200")
    return {entry["did"]: entry for entry in body.get("agents", [])}


def connections(port: int, timeout: float) -> int:
    """The open WebSocket connections that the node at `port` reports in /health."""
    status, body = node_get(port, "/health", timeout)
    if status != 200:
        raise CheckFailed(f"GET /health on port {port} answered {status}")
    return int(body["connections"])


def cmd_nodes(args: argparse.Namespace) -> None:
    """Both nodes are healthy, use Redis, share the gateway DID and have their own node ids."""
    dids, node_ids = set(), set()
    for port in args.node_port:
        status, body = node_get(port, "/health", args.timeout)
        check(status == 200 and body.get("status") == "ok", f"node on port {port}: /health ok")
        check(body.get("backend") == "redis", f"node on port {port}: backend redis")
        dids.add(body.get("did"))
        node_ids.add(body.get("node_id"))
    did = next(iter(dids))
    check(len(dids) == 1 and str(did).startswith("did:key:z"), "both nodes have one gateway DID")
    check(len(node_ids) == len(args.node_port), f"distinct node ids {sorted(node_ids)}")
    status, body = node_get(args.lb_port, "/health", args.timeout)
    check(status == 200 and body.get("did") == did, "nginx answers /health with that DID")
    print(did)


async def run_register(args: argparse.Namespace) -> None:
    """Two clients register through nginx; every node lists both."""
    alice, bob = Identity.generate(), Identity.generate()
    tag = uuid.uuid4().hex[:8]
    async with (
        GatewayClient(args.url, alice, capabilities=[f"a-{tag}"]),
        GatewayClient(args.url, bob, capabilities=[f"b-{tag}"]),
    ):
        check(True, f"two clients registered through nginx on port {args.lb_port}")
        for port in args.node_port:
            agents = agent_dids(port, args.timeout)
            check(alice.did in agents and bob.did in agents, f"/agents on port {port} lists both")
            check(agents[alice.did]["capabilities"] == [f"a-{tag}"], "with alice's capabilities")
            check(agents[bob.did]["capabilities"] == [f"b-{tag}"], "with bob's capabilities")
        spread = [connections(port, args.timeout) for port in args.node_port]
        note = "one on each node" if spread == [1, 1] else "on one node"
        print(f"  connections per node: {spread} ({note})")


def summing_worker() -> Agent:
    """An Agent that answers EXEC_REQUEST {"numbers": [...]} with their sum."""
    worker = Agent(Identity.generate(), capabilities=["sum"])

    @worker.on("EXEC_REQUEST")
    async def add(message: Message) -> dict[str, Any]:
        return {"sum": sum(message.payload["args"]["numbers"])}

    return worker


async def exchange(caller: GatewayClient, worker_did: str, numbers: list[int], wait: float) -> None:
    """Request a sum from the worker and check the EXEC_RESPONSE."""
    response = await caller.request(worker_did, {"numbers": numbers}, timeout=wait)
    check(response.type == "EXEC_RESPONSE", f"EXEC_RESPONSE for {numbers}")
    check(response.from_ == worker_did, "it comes from the worker")
    check(response.payload.get("result") == {"sum": sum(numbers)}, f"result {sum(numbers)}")


async def run_exchange(args: argparse.Namespace) -> None:
    """EXEC_REQUEST/EXEC_RESPONSE through nginx."""
    worker = summing_worker()
    async with (
        worker.connect(args.url),
        GatewayClient(args.url, Identity.generate()) as caller,
    ):
        await exchange(caller, worker.did, [2, 3, 37], args.timeout)
        await exchange(caller, worker.did, [40, 2], args.timeout)


def kill_container(container: str) -> None:
    """Kill a container with SIGKILL (`docker kill`): the node dies without closing anything."""
    subprocess.run(["docker", "kill", container], check=True, capture_output=True, timeout=30)


async def wait_for(condition: Any, what: str, wait: float) -> None:
    """Poll `condition()` until it is true; fail after `wait` seconds."""
    deadline = time.monotonic() + wait
    while not condition():
        if time.monotonic() > deadline:
            raise CheckFailed(f"{what}: not within {wait}s")
        await asyncio.sleep(0.2)


async def run_failover(args: argparse.Namespace) -> None:
    """Kill the busiest node; the clients continue through nginx on the other node."""
    containers = dict(item.split("=", 1) for item in args.node)
    check(set(map(int, containers)) == set(args.node_port), "a container for each node port")
    worker = summing_worker()
    seen: dict[str, list[ConnectionState]] = {"worker": [], "caller": []}
    caller_identity = Identity.generate()
    async with (
        worker.connect(args.url, on_state_change=seen["worker"].append) as worker_client,
        GatewayClient(args.url, caller_identity, on_state_change=seen["caller"].append) as caller,
    ):
        await exchange(caller, worker.did, [1, 2, 3], args.timeout)
        spread = {
            port: await asyncio.to_thread(connections, port, args.timeout)
            for port in args.node_port
        }
        check(sum(spread.values()) == 2, f"the two clients are connected: {spread}")
        victim = max(args.node_port, key=lambda port: spread[port])
        survivor = next(port for port in args.node_port if port != victim)
        sessions = (worker_client.session_id, caller.session_id)
        await asyncio.to_thread(kill_container, containers[str(victim)])
        check(True, f"killed the node on port {victim} ({spread[victim]} of the 2 connections)")

        def both_on_survivor() -> bool:
            try:
                return connections(survivor, args.timeout) == 2
            except (httpx.HTTPError, CheckFailed):
                return False

        await wait_for(both_on_survivor, "both clients connected to the other node", args.timeout)
        check(True, f"the node on port {survivor} now holds both connections")
        reconnected = sum(ConnectionState.RECONNECTING in states for states in seen.values())
        check(reconnected == spread[victim], f"{reconnected} client(s) reconnected through nginx")
        await wait_for(
            lambda: worker_client.state == caller.state == ConnectionState.CONNECTED,
            "both clients connected",
            args.timeout,
        )
        changed = sum(
            a != b
            for a, b in zip(sessions, (worker_client.session_id, caller.session_id), strict=True)
        )
        check(changed == spread[victim], f"{changed} new session(s) after the kill")
        agents = await asyncio.to_thread(agent_dids, survivor, args.timeout)
        check(worker.did in agents and caller_identity.did in agents, "survivor /agents lists both")
        await exchange(caller, worker.did, [5, 6, 7], args.timeout)
        await exchange(caller, worker.did, [100, -58], args.timeout)
        try:
            await asyncio.to_thread(node_get, victim, "/health", 2.0)
        except httpx.HTTPError:
            check(True, f"the killed node on port {victim} no longer answers")
        else:
            raise CheckFailed(f"the node on port {victim} still answers after the kill")


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["nodes", "register", "exchange", "failover"])
    parser.add_argument("--lb-port", type=int, required=True, help="nginx port on 127.0.0.1")
    parser.add_argument(
        "--node-port", type=int, action="append", required=True, help="a node's port (twice)"
    )
    parser.add_argument(
        "--node", action="append", default=[], help="PORT=CONTAINER, for failover (per node)"
    )
    parser.add_argument("--timeout", type=float, default=15.0, help="seconds per wait")
    args = parser.parse_args(argv)
    if len(args.node_port) != 2:
        parser.error("give --node-port twice")
    if args.command == "failover" and len(args.node) != 2:
        parser.error("failover needs --node PORT=CONTAINER for each node")
    args.url = f"ws://127.0.0.1:{args.lb_port}/ws"
    return args


def main(argv: list[str] | None = None) -> int:
    """Run one scenario; return the process exit code."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    runners = {"register": run_register, "exchange": run_exchange, "failover": run_failover}
    try:
        if args.command == "nodes":
            cmd_nodes(args)
        else:
            asyncio.run(asyncio.wait_for(runners[args.command](args), args.timeout * 4))
    except CheckFailed as failure:
        print(f"  FAILED: {failure}", file=sys.stderr)
        return 1
    except Exception as error:  # a crash is a failed scenario, shown with its type
        print(f"  FAILED: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
