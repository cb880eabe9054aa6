"""The ``aiconexus`` command: keys, the agent directory, messages, listening, pinging.

::

    aiconexus keygen [--out FILE] [--force]
    aiconexus whoami [--key FILE]
    aiconexus agents [--gateway URL] [--capability C] [--json] [--token T]
    aiconexus send --key FILE --to DID --type TYPE --payload JSON|@FILE|- [--encrypt]
                   [--gateway URL]
    aiconexus request --to DID [--args JSON|@FILE|-] [--key FILE] [--timeout S]
                      [--if-offline wait|fail] [--encrypt] [--no-duplicate-memory]
                      [--gateway URL]
    aiconexus listen [--key FILE] [--capability C ...] [--count N] [--no-duplicate-memory]
                     [--gateway URL]
    aiconexus ping [--gateway URL] [--count N]
    aiconexus mcp [--gateway URL] [--key FILE] [--timeout S] [--refresh S] [--token T]
    aiconexus --version

The gateway URL defaults to ``$AICONEXUS_GATEWAY``, else ``ws://127.0.0.1:8000/ws``; the key
file to ``~/.aiconexus/identity.key``; the token for a gateway that protects its directory
(AGENTS_TOKEN) to ``$AICONEXUS_AGENTS_TOKEN``. ``--encrypt`` seals the payload for the
recipient (PROTOCOL.md 8.10); ``request`` and ``listen`` print frames as received, an
encrypted one with its payload decrypted (its signature covers the encrypted form); they keep
the ids of the frames they acknowledged in ``KEY.received`` beside the key file, so that a
copy delivered again is not printed twice (``--no-duplicate-memory``: in memory only). Exit
status: 0 success, 1 the gateway is unreachable or refused (or the request failed), 2 bad
arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, NoReturn

import httpx

from aiconexus._cli_common import (
    DEFAULT_GATEWAY_URL,
    DEFAULT_KEY_FILE,
    FailureError,
    UsageError,
    json_object,
    load_identity,
    no_gateway_at,
    one_shot_client,
    unreachable,
)
from aiconexus._cli_mcp import add_mcp_parser, run_mcp
from aiconexus.client import SENDABLE_TYPES, GatewayClient
from aiconexus.directory import AgentInfo, http_base_url, list_agents
from aiconexus.errors import (
    ClientError,
    GatewayUnreachableError,
    RecipientOfflineError,
    RemoteExecutionError,
)
from aiconexus.protocol import (
    PROTOCOL_VERSION,
    SEALABLE_TYPES,
    Identity,
    IoapError,
    Message,
    MessageType,
    canonicalize,
    is_valid_did,
    validate_payload,
)

__all__ = ["DEFAULT_GATEWAY_URL", "DEFAULT_KEY_FILE", "main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _version() -> str:
    try:
        version = metadata.version("aiconexus-sdk")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return f"aiconexus {version} (aiconexus-sdk, IoAP protocol {PROTOCOL_VERSION})"


_EPILOG = f"""\
The gateway URL comes from --gateway, else $AICONEXUS_GATEWAY, else {DEFAULT_GATEWAY_URL}.
The key file defaults to {DEFAULT_KEY_FILE} (a JWK file, mode 0600: keep it private).
JSON options take the JSON itself, @FILE to read it from FILE, or - to read standard input.
Exit status: 0 success, 1 gateway unreachable, refused or request failed, 2 bad arguments."""


def _parser() -> argparse.ArgumentParser:
    gateway = os.environ.get("AICONEXUS_GATEWAY") or DEFAULT_GATEWAY_URL
    parser = _Parser(
        prog="aiconexus",
        description="AIConexus command line tools.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    key_help = f"key file (default {DEFAULT_KEY_FILE})"
    gateway_help = f"gateway URL (default {gateway})"

    keygen = commands.add_parser("keygen", help="create a new identity key file")
    keygen.add_argument("--out", type=Path, help=f"key file to write (default {DEFAULT_KEY_FILE})")
    keygen.add_argument("--force", action="store_true", help="overwrite an existing file")

    whoami = commands.add_parser("whoami", help="print the DID of a key file")
    whoami.add_argument("--key", type=Path, default=DEFAULT_KEY_FILE, help=key_help)

    agents = commands.add_parser("agents", help="list the agents registered at a gateway")
    agents.add_argument("--gateway", default=gateway, help=gateway_help)
    agents.add_argument("--capability", help="only agents offering this capability")
    agents.add_argument("--json", action="store_true", help="print JSON instead of a table")
    agents.add_argument(
        "--token",
        default=os.environ.get("AICONEXUS_AGENTS_TOKEN") or None,
        help="bearer token for /agents (default $AICONEXUS_AGENTS_TOKEN)",
    )

    encrypt_help = "encrypt the payload end to end for the recipient"
    send = commands.add_parser("send", help="send one signed message and print the ACK status")
    send.add_argument("--key", type=Path, required=True, help="key file of the sender")
    send.add_argument("--to", required=True, help="DID of the recipient")
    send.add_argument("--type", required=True, help="message type, e.g. OFFER or INTENT")
    send.add_argument("--payload", default="{}", help="payload: a JSON object, @FILE or -")
    send.add_argument("--encrypt", action="store_true", help=encrypt_help)
    send.add_argument("--gateway", default=gateway, help=gateway_help)

    request = commands.add_parser(
        "request", help="send an EXEC_REQUEST and print the EXEC_RESPONSE (one JSON line)"
    )
    request.add_argument("--to", required=True, help="DID of the agent to ask")
    request.add_argument("--args", default="{}", help="args: a JSON object, @FILE or -")
    request.add_argument("--key", type=Path, default=DEFAULT_KEY_FILE, help=key_help)
    request.add_argument("--timeout", type=float, default=30.0, help="seconds (default 30)")
    request.add_argument(
        "--if-offline",
        choices=("wait", "fail"),
        default="wait",
        help="when the recipient is not connected: wait for it (default) or fail at once",
    )
    request.add_argument("--encrypt", action="store_true", help=encrypt_help)
    _add_memory_option(request)
    request.add_argument("--gateway", default=gateway, help=gateway_help)

    listen = commands.add_parser(
        "listen", help="register and print every incoming frame as a JSON line"
    )
    listen.add_argument("--key", type=Path, default=DEFAULT_KEY_FILE, help=key_help)
    listen.add_argument(
        "--capability", action="append", default=[], help="capability to register (repeatable)"
    )
    listen.add_argument("--count", type=int, help="stop after N frames (default: until Ctrl-C)")
    _add_memory_option(listen)
    listen.add_argument("--gateway", default=gateway, help=gateway_help)

    ping = commands.add_parser("ping", help="register with a throwaway key and PING the gateway")
    ping.add_argument("--gateway", default=gateway, help=gateway_help)
    ping.add_argument("--count", type=int, default=1, help="number of PINGs (default 1)")
    add_mcp_parser(commands, gateway)
    return parser


def _add_memory_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--no-duplicate-memory",
        dest="duplicate_memory",
        action="store_false",
        help="do not keep the ids of acknowledged frames in KEY.received (memory only)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (also used as the console script)."""
    args = _parser().parse_args(argv)
    logging.getLogger("aiconexus").setLevel(logging.ERROR)
    try:
        if args.command == "keygen":
            return _keygen(args.out, force=args.force)
        if args.command == "whoami":
            print(load_identity(args.key).did)
            return 0
        if args.command == "agents":
            return asyncio.run(
                _agents(args.gateway, args.capability, as_json=args.json, token=args.token)
            )
        if args.command == "send":
            return _send(args)
        if args.command == "request":
            return _request(args)
        if args.command == "listen":
            return _listen(args)
        if args.command == "mcp":
            return run_mcp(args)
        return asyncio.run(_ping(args.gateway, args.count))
    except UsageError as exc:
        print(f"aiconexus: error: {exc}", file=sys.stderr)
        return 2
    except FailureError as exc:
        print(f"aiconexus: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _keygen(out: Path | None, *, force: bool) -> int:
    path = (out or DEFAULT_KEY_FILE).expanduser()
    if path.is_dir():
        raise UsageError(f"{path} is a directory; name the key file, e.g. {path / 'agent.key'}")
    if path.exists() and not force:
        raise UsageError(f"{path} already exists (use --force to overwrite it)")
    if not path.parent.is_dir():
        if out is not None:
            raise UsageError(f"directory {path.parent} does not exist; create it first")
        try:
            path.parent.mkdir(parents=True, mode=0o700)
        except OSError as exc:
            raise FailureError(f"cannot create {path.parent}: {exc.strerror or exc}") from None
    identity = Identity.generate()
    try:
        identity.save(path)
    except OSError as exc:
        raise FailureError(f"cannot write {path}: {exc.strerror or exc}") from None
    print(identity.did)
    print(f"key written to {path} (mode 0600); keep it secret", file=sys.stderr)
    return 0


async def _agents(url: str, capability: str | None, *, as_json: bool, token: str | None) -> int:
    try:
        http_base_url(url)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        agents = await list_agents(url, capability, token=token)
    except httpx.HTTPStatusError as exc:
        code = exc.response.status_code
        if code == 404:
            raise no_gateway_at(url, f"GET {exc.request.url} answered 404") from None
        hint = " (give the directory's token with --token)" if code == 401 else ""
        raise FailureError(f"the gateway answered {code}{hint}") from None
    except (ValueError, KeyError, TypeError):
        raise no_gateway_at(url, "GET /agents did not answer a gateway's JSON") from None
    except httpx.HTTPError as exc:
        raise unreachable(url, exc) from None
    if as_json:
        print(json.dumps([_agent_json(a) for a in agents], indent=2))
    elif not agents and capability is not None:
        print(f"no registered agent offers the capability {capability!r}")
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
    identity = load_identity(args.key)
    if not is_valid_did(args.to):
        raise UsageError(f"--to is not an Ed25519 did:key: {args.to!r}")
    try:
        message_type = MessageType(args.type.upper())
    except ValueError:
        raise UsageError(f"--type {args.type!r} is not a message type") from None
    if message_type not in SENDABLE_TYPES:
        allowed = ", ".join(sorted(SENDABLE_TYPES))
        raise UsageError(f"--type must be one of {allowed}")
    if args.encrypt and message_type not in SEALABLE_TYPES:
        raise UsageError(f"--encrypt: {message_type} frames are never encrypted")
    payload = json_object(args.payload, "--payload")
    try:
        validate_payload(message_type, payload)
    except IoapError as exc:
        raise UsageError(f"--payload: {exc.message}") from None
    return asyncio.run(
        _send_async(args.gateway, identity, args.to, message_type, payload, args.encrypt)
    )


async def _send_async(
    url: str,
    identity: Identity,
    to: str,
    message_type: MessageType,
    payload: dict[str, Any],
    encrypt: bool,
) -> int:
    client = one_shot_client(url, identity)
    try:
        async with client:
            status = await client.send(to, message_type, payload, timeout=10.0, encrypt=encrypt)
    except TimeoutError:  # before OSError, its base class
        raise FailureError("no ACK from the gateway within 10s") from None
    except (GatewayUnreachableError, OSError) as exc:
        raise unreachable(url, exc) from None
    except (IoapError, ClientError) as exc:
        raise FailureError(f"the gateway refused the message: {exc}") from None
    print(status)
    return 0


def _request(args: argparse.Namespace) -> int:
    if not is_valid_did(args.to):
        raise UsageError(f"--to is not an Ed25519 did:key: {args.to!r}")
    if not args.timeout > 0:
        raise UsageError("--timeout must be > 0")
    request_args = json_object(args.args, "--args")
    identity = load_identity(args.key)
    return asyncio.run(_request_async(args, identity, request_args))


async def _request_async(
    args: argparse.Namespace, identity: Identity, request_args: dict[str, Any]
) -> int:
    client = one_shot_client(args.gateway, identity, duplicate_memory=args.duplicate_memory)
    try:
        async with client:
            response = await client.request(
                args.to,
                request_args,
                timeout=args.timeout,
                if_offline=args.if_offline,
                encrypt=args.encrypt,
            )
    except RemoteExecutionError as exc:
        print(_shown(exc.response), flush=True)
        raise FailureError(str(exc)) from None
    except RecipientOfflineError as exc:
        raise FailureError(str(exc)) from None
    except TimeoutError:  # before OSError, its base class
        raise FailureError(f"no EXEC_RESPONSE from {args.to} within {args.timeout:g}s") from None
    except (GatewayUnreachableError, OSError) as exc:
        raise unreachable(args.gateway, exc) from None
    except (IoapError, ClientError) as exc:
        raise FailureError(f"the request failed: {exc}") from None
    print(_shown(response), flush=True)
    return 0


def _shown(message: Message) -> str:
    """A received frame as JSON text; an encrypted one with its payload decrypted."""
    if not message.encrypted:
        return message.to_json()
    return canonicalize({**message.to_dict(), "payload": message.payload}).decode("utf-8")


def _listen(args: argparse.Namespace) -> int:
    if args.count is not None and args.count < 1:
        raise UsageError("--count must be at least 1")
    identity = load_identity(args.key)
    return asyncio.run(_listen_async(args, identity))


async def _listen_async(args: argparse.Namespace, identity: Identity) -> int:
    try:
        client = GatewayClient(
            args.gateway,
            identity,
            capabilities=args.capability,
            ack_when="taken",
            duplicate_memory=args.duplicate_memory,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        async with client:
            print(
                f"listening as {client.did} at {client.url} (Ctrl-C to stop)",
                file=sys.stderr,
                flush=True,
            )
            await _print_frames(client, args.count)
    except (GatewayUnreachableError, OSError) as exc:
        raise unreachable(args.gateway, exc) from None
    except (IoapError, ClientError) as exc:
        raise FailureError(f"the gateway refused: {exc}") from None
    return 0


async def _print_frames(client: GatewayClient, count: int | None) -> None:
    printed = 0
    message: Message
    async for message in client:
        print(_shown(message), flush=True)
        printed += 1
        if count is not None and printed >= count:
            return
    reason = await client.wait_closed()
    if reason is not None:
        raise FailureError(f"the connection closed: {reason}")


async def _ping(url: str, count: int) -> int:
    if count < 1:
        raise UsageError("--count must be at least 1")
    client = one_shot_client(url, Identity.generate())
    try:
        async with client:
            for _ in range(count):
                rtt = await client.ping(timeout=10.0)
                print(f"PONG from {client.gateway_did} at {client.url} in {rtt * 1000:.1f} ms")
    except (GatewayUnreachableError, OSError, TimeoutError) as exc:
        raise unreachable(url, exc) from None
    except (IoapError, ClientError) as exc:
        raise FailureError(f"the gateway refused: {exc}") from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
