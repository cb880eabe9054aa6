"""The ``aiconexus`` command: keys, the agent directory, sending a message, pinging a gateway.

::

    aiconexus keygen [--out FILE] [--force]
    aiconexus whoami [--key FILE]
    aiconexus agents [--gateway URL] [--capability C] [--json] [--token T]
    aiconexus send --key FILE --to DID --type TYPE --payload JSON [--gateway URL]
    aiconexus ping [--gateway URL] [--count N]

The gateway URL defaults to ``$AICONEXUS_GATEWAY``, else ``ws://127.0.0.1:8000/ws``; the
token for a gateway that protects its directory (AGENTS_TOKEN) to ``$AICONEXUS_AGENTS_TOKEN``.
Exit status: 0 success, 1 the gateway is unreachable or refused, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import httpx

from aiconexus.client import SENDABLE_TYPES, GatewayClient
from aiconexus.directory import AgentInfo, list_agents
from aiconexus.errors import ClientError, GatewayUnreachableError
from aiconexus.protocol import Identity, IoapError, MessageType, is_valid_did, validate_payload

__all__ = ["DEFAULT_GATEWAY_URL", "DEFAULT_KEY_FILE", "main"]

DEFAULT_GATEWAY_URL = "ws://127.0.0.1:8000/ws"
"""Used when neither ``--gateway`` nor ``AICONEXUS_GATEWAY`` is given."""

DEFAULT_KEY_FILE = Path("~/.aiconexus/identity.key")
"""Where ``keygen`` writes and ``whoami`` reads a key when no file is named."""


class UsageError(Exception):
    """A bad argument: reported on one line, exit status 2."""


class FailureError(Exception):
    """The command could not do its job (gateway down, refused): exit status 1."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    gateway = os.environ.get("AICONEXUS_GATEWAY") or DEFAULT_GATEWAY_URL
    parser = _Parser(prog="aiconexus", description="AIConexus command line tools.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    keygen = commands.add_parser("keygen", help="create a new identity key file")
    keygen.add_argument("--out", type=Path, default=DEFAULT_KEY_FILE, help="key file to write")
    keygen.add_argument("--force", action="store_true", help="overwrite an existing file")

    whoami = commands.add_parser("whoami", help="print the DID of a key file")
    whoami.add_argument("--key", type=Path, default=DEFAULT_KEY_FILE, help="key file to read")

    agents = commands.add_parser("agents", help="list the agents registered at a gateway")
    agents.add_argument("--gateway", default=gateway, help=f"gateway URL (default {gateway})")
    agents.add_argument("--capability", help="only agents offering this capability")
    agents.add_argument("--json", action="store_true", help="print JSON instead of a table")
    agents.add_argument(
        "--token",
        default=os.environ.get("AICONEXUS_AGENTS_TOKEN") or None,
        help="bearer token for /agents (default $AICONEXUS_AGENTS_TOKEN)",
    )

    send = commands.add_parser("send", help="send one signed message and print the ACK status")
    send.add_argument("--key", type=Path, required=True, help="key file of the sender")
    send.add_argument("--to", required=True, help="DID of the recipient")
    send.add_argument("--type", required=True, help="message type, e.g. OFFER or INTENT")
    send.add_argument("--payload", default="{}", help="payload as a JSON object")
    send.add_argument("--gateway", default=gateway, help=f"gateway URL (default {gateway})")

    ping = commands.add_parser("ping", help="register with a throwaway key and PING the gateway")
    ping.add_argument("--gateway", default=gateway, help=f"gateway URL (default {gateway})")
    ping.add_argument("--count", type=int, default=1, help="number of PINGs (default 1)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (also used as the console script)."""
    args = _parser().parse_args(argv)
    logging.getLogger("aiconexus").setLevel(logging.ERROR)
    try:
        if args.command == "keygen":
            return _keygen(args.out.expanduser(), force=args.force)
        if args.command == "whoami":
            print(_load_identity(args.key).did)
            return 0
        if args.command == "agents":
            return asyncio.run(
                _agents(args.gateway, args.capability, as_json=args.json, token=args.token)
            )
        if args.command == "send":
            return _send(args)
        return asyncio.run(_ping(args.gateway, args.count))
    except UsageError as exc:
        print(f"aiconexus: error: {exc}", file=sys.stderr)
        return 2
    except FailureError as exc:
        print(f"aiconexus: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _keygen(path: Path, *, force: bool) -> int:
    if path.exists() and not force:
        raise UsageError(f"{path} already exists (use --force to overwrite it)")
    identity = Identity.generate()
    try:
        identity.save(path)
    except OSError as exc:
        raise FailureError(f"cannot write {path}: {exc.strerror or exc}") from None
    print(identity.did)
    print(f"key written to {path} (mode 0600); keep it secret", file=sys.stderr)
    return 0


def _load_identity(path: Path) -> Identity:
    path = path.expanduser()
    if not path.is_file():
        raise UsageError(f"no key file at {path} (create one with `aiconexus keygen`)")
    try:
        return Identity.load(path)
    except (OSError, ValueError) as exc:
        raise UsageError(str(exc)) from None


def _unreachable(url: str, exc: BaseException) -> FailureError:
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, GatewayUnreachableError) and exc.failures:
        detail = str(exc.failures[-1][1]) or type(exc.failures[-1][1]).__name__
    return FailureError(f"cannot reach the gateway at {url}: {detail}")


async def _agents(url: str, capability: str | None, *, as_json: bool, token: str | None) -> int:
    try:
        agents = await list_agents(url, capability, token=token)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except httpx.HTTPStatusError as exc:
        status = exc.response.status_code
        hint = " (give the directory's token with --token)" if status == 401 else ""
        raise FailureError(f"the gateway answered {status}{hint}") from None
    except httpx.HTTPError as exc:
        raise _unreachable(url, exc) from None
    if as_json:
        print(json.dumps([_agent_json(a) for a in agents], indent=2))
    else:
        print(_table(agents))
    return 0


def _agent_json(agent: AgentInfo) -> dict[str, Any]:
    return {
        "did": agent.did,
        "capabilities": list(agent.capabilities),
        "metadata": agent.metadata,
        "connected_at": agent.connected_at,
        "last_seen": agent.last_seen,
    }


def _table(agents: list[AgentInfo]) -> str:
    if not agents:
        return "no agents registered"
    rows = [("DID", "CAPABILITIES", "NAME", "CONNECTED AT")]
    for agent in agents:
        name = agent.metadata.get("name", "")
        rows.append((agent.did, ",".join(agent.capabilities), str(name), agent.connected_at or ""))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(line.rstrip() for line in lines) + f"\n{len(agents)} agent(s)"


def _send(args: argparse.Namespace) -> int:
    identity = _load_identity(args.key)
    if not is_valid_did(args.to):
        raise UsageError(f"--to is not an Ed25519 did:key: {args.to!r}")
    try:
        message_type = MessageType(args.type.upper())
    except ValueError:
        raise UsageError(f"--type {args.type!r} is not a message type") from None
    if message_type not in SENDABLE_TYPES:
        allowed = ", ".join(sorted(SENDABLE_TYPES))
        raise UsageError(f"--type must be one of {allowed}")
    try:
        payload = json.loads(args.payload)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--payload is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise UsageError("--payload must be a JSON object")
    try:
        validate_payload(message_type, payload)
    except IoapError as exc:
        raise UsageError(f"--payload: {exc.message}") from None
    return asyncio.run(_send_async(args.gateway, identity, args.to, message_type, payload))


async def _send_async(
    url: str, identity: Identity, to: str, message_type: MessageType, payload: dict[str, Any]
) -> int:
    client = _one_shot_client(url, identity)
    try:
        async with client:
            status = await client.send(to, message_type, payload, timeout=10.0)
    except (GatewayUnreachableError, OSError) as exc:
        raise _unreachable(url, exc) from None
    except TimeoutError:
        raise FailureError("no ACK from the gateway within 10s") from None
    except (IoapError, ClientError) as exc:
        raise FailureError(f"the gateway refused the message: {exc}") from None
    print(status)
    return 0


async def _ping(url: str, count: int) -> int:
    if count < 1:
        raise UsageError("--count must be at least 1")
    client = _one_shot_client(url, Identity.generate())
    try:
        async with client:
            for _ in range(count):
                rtt = await client.ping(timeout=10.0)
                print(f"PONG from {client.gateway_did} at {client.url} in {rtt * 1000:.1f} ms")
    except (GatewayUnreachableError, OSError, TimeoutError) as exc:
        raise _unreachable(url, exc) from None
    except (IoapError, ClientError) as exc:
        raise FailureError(f"the gateway refused: {exc}") from None
    return 0


def _one_shot_client(url: str, identity: Identity) -> GatewayClient:
    try:
        return GatewayClient(url, identity, reconnect=False, open_timeout_s=5.0)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


if __name__ == "__main__":
    sys.exit(main())
