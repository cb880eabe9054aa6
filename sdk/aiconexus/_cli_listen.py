"""``aiconexus listen``: register and print every frame received as a JSON line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from aiconexus._cli_common import (
    DEFAULT_KEY_FILE,
    FailureError,
    Subcommands,
    UsageError,
    add_memory_option,
    load_identity,
    shown,
    unreachable,
)
from aiconexus.client import GatewayClient
from aiconexus.errors import ClientError, GatewayUnreachableError
from aiconexus.protocol import Identity, IoapError, Message

__all__ = ["add_listen_command"]


def add_listen_command(commands: Subcommands, gateway: str) -> None:
    """Add ``listen``."""
    listen = commands.add_parser(
        "listen", help="register and print every incoming frame as a JSON line"
    )
    listen.add_argument(
        "--key", type=Path, default=DEFAULT_KEY_FILE, help=f"key file (default {DEFAULT_KEY_FILE})"
    )
    listen.add_argument(
        "--capability", action="append", default=[], help="capability to register (repeatable)"
    )
    listen.add_argument("--count", type=int, help="stop after N frames (default: until Ctrl-C)")
    add_memory_option(listen)
    listen.add_argument("--gateway", default=gateway, help=f"gateway URL (default {gateway})")
    listen.set_defaults(run=_listen)


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
        print(shown(message), flush=True)
        printed += 1
        if count is not None and printed >= count:
            return
    reason = await client.wait_closed()
    if reason is not None:
        raise FailureError(f"the connection closed: {reason}")
