"""SDK scenarios that test_docker_gateway.sh runs against a gateway in a container.

Each sub-command connects real SDK clients to the gateway, checks what it must, prints one
line per check and exits 0, or prints the failure and exits 1:

    health   GET /health answers 200 with status "ok" and a did:key; print the DID
    agents   GET /agents answers 200 with an agents list and a matching count
    register two clients connect, register, and both show up in /agents with their
             capabilities (and the capability filter finds each)
    exchange OFFER/ANSWER between the two, then EXEC_REQUEST/EXEC_RESPONSE via an Agent
    store    send a message to an agent that is offline; the gateway must queue it;
             the identities and the marker are written to --state
    fetch    connect as the offline agent from --state; the stored message must arrive

The gateway is at 127.0.0.1:--port, or at --base (http:// or https://; the WebSocket URL
follows: ws:// or wss://). Every wait is bounded by --timeout seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import uuid
from pathlib import Path
from typing import Any

from docker_checks import CheckFailed, check, http_get

from aiconexus import Agent, GatewayClient, Identity, Message

__all__ = ["main"]


def cmd_health(args: argparse.Namespace) -> None:
    """Check /health and print the gateway DID on the last line."""
    status, body = http_get(args.http, "/health", args.timeout)
    check(status == 200, f"GET /health answered {status}")
    check(body.get("status") == "ok", f"/health status is {body.get('status')!r}")
    did = body.get("did", "")
    check(isinstance(did, str) and did.startswith("did:key:z"), "/health carries a did:key")
    check(isinstance(body.get("version"), str), f"/health version is {body.get('version')!r}")
    if args.backend:
        backend = body.get("backend")
        check(backend == args.backend, f"/health backend is {backend!r}, not {args.backend!r}")
    print(did)


def cmd_agents(args: argparse.Namespace) -> None:
    """Check the shape of /agents."""
    status, body = http_get(args.http, "/agents", args.timeout)
    check(status == 200, f"GET /agents answered {status}")
    agents = body.get("agents")
    check(isinstance(agents, list), "/agents holds an agents list")
    check(body.get("count") == len(agents), f"/agents count {body.get('count')} matches the list")


def listed(body: Any) -> dict[str, Any]:
    """Map DID to entry for an /agents answer."""
    return {entry["did"]: entry for entry in body.get("agents", [])}


async def run_register(args: argparse.Namespace) -> None:
    """Two clients register; both appear in /agents with their capabilities."""
    alice, bob = Identity.generate(), Identity.generate()
    tag = uuid.uuid4().hex[:8]
    async with (
        GatewayClient(args.url, alice, capabilities=[f"offer-{tag}"], metadata={"name": "a"}),
        GatewayClient(args.url, bob, capabilities=[f"answer-{tag}"], metadata={"name": "b"}),
    ):
        check(True, f"two clients registered ({alice.did[:20]}..., {bob.did[:20]}...)")
        status, body = http_get(args.http, "/agents", args.timeout)
        agents = listed(body)
        check(status == 200 and alice.did in agents and bob.did in agents, "/agents lists both")
        check(agents[alice.did]["capabilities"] == [f"offer-{tag}"], "alice's capabilities")
        check(agents[bob.did]["metadata"] == {"name": "b"}, "bob's metadata")
        _, only_bob = http_get(args.http, f"/agents?capability=answer-{tag}", args.timeout)
        check(list(listed(only_bob)) == [bob.did], "?capability= finds bob only")


async def next_message(client: GatewayClient, wait_s: float) -> Message:
    """Return the next incoming message, or fail after `wait_s` seconds."""
    try:
        async with asyncio.timeout(wait_s):
            async for message in client:
                return message
    except TimeoutError:
        pass
    raise CheckFailed(f"no message within {wait_s}s")


async def run_exchange(args: argparse.Namespace) -> None:
    """OFFER/ANSWER between two clients, then EXEC_REQUEST/EXEC_RESPONSE with an Agent."""
    alice, bob = Identity.generate(), Identity.generate()
    offer_sdp = f"v=0 offer {secrets.token_hex(8)}"
    answer_sdp = f"v=0 answer {secrets.token_hex(8)}"
    async with (
        GatewayClient(args.url, alice, capabilities=["caller"]) as client_a,
        GatewayClient(args.url, bob, capabilities=["callee"]) as client_b,
    ):
        status = await client_a.send(bob.did, "OFFER", {"sdp": offer_sdp})
        check(status == "delivered", f"OFFER acknowledged as {status!r}")
        offer = await next_message(client_b, args.timeout)
        check(offer.type == "OFFER" and offer.from_ == alice.did, "bob got alice's OFFER")
        check(offer.payload["sdp"] == offer_sdp, "OFFER sdp arrived unchanged")
        status = await client_b.send(alice.did, "ANSWER", {"sdp": answer_sdp})
        check(status == "delivered", f"ANSWER acknowledged as {status!r}")
        answer = await next_message(client_a, args.timeout)
        check(answer.type == "ANSWER" and answer.from_ == bob.did, "alice got bob's ANSWER")
        check(answer.payload["sdp"] == answer_sdp, "ANSWER sdp arrived unchanged")

    worker_identity, caller_identity = Identity.generate(), Identity.generate()
    worker = Agent(worker_identity, capabilities=["sum"])

    @worker.on("EXEC_REQUEST")
    async def add(message: Message) -> dict[str, Any]:
        numbers = message.payload["args"]["numbers"]
        return {"sum": sum(numbers)}

    async with (
        worker.connect(args.url),
        GatewayClient(args.url, caller_identity) as caller,
    ):
        response = await caller.request(
            worker_identity.did, {"numbers": [2, 3, 37]}, timeout=args.timeout
        )
        check(response.type == "EXEC_RESPONSE", f"got {response.type}")
        check(response.from_ == worker_identity.did, "EXEC_RESPONSE comes from the worker")
        check(response.payload.get("status") == "success", "EXEC_RESPONSE status success")
        check(response.payload.get("result") == {"sum": 42}, "EXEC_RESPONSE result is 42")


async def run_store(args: argparse.Namespace) -> None:
    """Send to an offline agent; the gateway must queue the message."""
    sender_seed, recipient_seed = secrets.token_bytes(32), secrets.token_bytes(32)
    sender, recipient = Identity.from_seed(sender_seed), Identity.from_seed(recipient_seed)
    marker = f"v=0 stored {secrets.token_hex(8)}"
    async with GatewayClient(args.url, sender) as client:
        status = await client.send(recipient.did, "OFFER", {"sdp": marker})
    check(status == "queued", f"OFFER to an offline agent acknowledged as {status!r}")
    state = {
        "sender_seed": sender_seed.hex(),
        "recipient_seed": recipient_seed.hex(),
        "marker": marker,
    }
    await asyncio.to_thread(Path(args.state).write_text, json.dumps(state), encoding="utf-8")


async def run_fetch(args: argparse.Namespace) -> None:
    """Connect as the offline agent; the stored message must be delivered."""
    text = await asyncio.to_thread(Path(args.state).read_text, encoding="utf-8")
    state = json.loads(text)
    sender = Identity.from_seed(bytes.fromhex(state["sender_seed"]))
    recipient = Identity.from_seed(bytes.fromhex(state["recipient_seed"]))
    async with GatewayClient(args.url, recipient) as client:
        message = await next_message(client, args.timeout)
    check(message.type == "OFFER" and message.from_ == sender.did, "the stored OFFER arrived")
    check(message.payload["sdp"] == state["marker"], "its payload is the one sent")


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "command", choices=["health", "agents", "register", "exchange", "store", "fetch"]
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", type=int, help="gateway port on 127.0.0.1 (plain HTTP)")
    where.add_argument("--base", help="gateway base URL, e.g. https://127.0.0.1:8443")
    parser.add_argument("--state", default="", help="state file for store/fetch")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per wait")
    parser.add_argument("--backend", default="", help="health: the backend /health must report")
    args = parser.parse_args(argv)
    args.http = args.base.rstrip("/") if args.base else f"http://127.0.0.1:{args.port}"
    args.url = "ws" + args.http.removeprefix("http") + "/ws"
    if args.command in {"store", "fetch"} and not args.state:
        parser.error(f"{args.command} needs --state")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run one scenario; return the process exit code."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    runners = {"register": run_register, "exchange": run_exchange}
    runners |= {"store": run_store, "fetch": run_fetch}
    try:
        if args.command == "health":
            cmd_health(args)
        elif args.command == "agents":
            cmd_agents(args)
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
