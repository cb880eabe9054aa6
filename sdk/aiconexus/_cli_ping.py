"""``aiconexus ping``: register with a throwaway key and time PINGs to the gateway."""

from __future__ import annotations

import argparse
import asyncio

from aiconexus._cli_common import (
    FailureError,
    Subcommands,
    UsageError,
    one_shot_client,
    unreachable,
)
from aiconexus.errors import ClientError, GatewayUnreachableError
from aiconexus.protocol import Identity, IoapError

__all__ = ["add_ping_command"]


def add_ping_command(commands: Subcommands, gateway: str) -> None:
    """Add ``ping``."""
    ping = commands.add_parser("ping", help="register with a throwaway key and PING the gateway")
    ping.add_argument("--gateway", default=gateway, help=f"gateway URL (default {gateway})")
    ping.add_argument("--count", type=int, default=1, help="number of PINGs (default 1)")
    ping.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    return asyncio.run(_ping(args.gateway, args.count))


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
