"""``aiconexus send`` and ``aiconexus request``: one signed frame to an agent, and its answer.

``send`` prints the status of the gateway's ACK; ``request`` sends an EXEC_REQUEST and prints
the EXEC_RESPONSE as one JSON line (decrypted when it came encrypted).
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from aiconexus._cli_common import (
    DEFAULT_KEY_FILE,
    FailureError,
    Subcommands,
    UsageError,
    add_memory_option,
    json_object,
    load_identity,
    one_shot_client,
    shown,
    unreachable,
)
from aiconexus.client import SENDABLE_TYPES
from aiconexus.errors import (
    ClientError,
    GatewayUnreachableError,
    RecipientOfflineError,
    RemoteExecutionError,
)
from aiconexus.protocol import (
    SEALABLE_TYPES,
    Identity,
    IoapError,
    MessageType,
    is_valid_did,
    validate_payload,
)

__all__ = ["add_message_commands"]


def add_message_commands(commands: Subcommands, gateway: str) -> None:
    """Add ``send`` and ``request``."""
    gateway_help = f"gateway URL (default {gateway})"
    encrypt_help = "encrypt the payload end to end for the recipient"
    send = commands.add_parser("send", help="send one signed message and print the ACK status")
    send.add_argument("--key", type=Path, required=True, help="key file of the sender")
    send.add_argument("--to", required=True, help="DID of the recipient")
    send.add_argument("--type", required=True, help="message type, e.g. OFFER or INTENT")
    send.add_argument("--payload", default="{}", help="payload: a JSON object, @FILE or -")
    send.add_argument("--encrypt", action="store_true", help=encrypt_help)
    send.add_argument("--gateway", default=gateway, help=gateway_help)
    send.set_defaults(run=_send)

    request = commands.add_parser(
        "request", help="send an EXEC_REQUEST and print the EXEC_RESPONSE (one JSON line)"
    )
    request.add_argument("--to", required=True, help="DID of the agent to ask")
    request.add_argument("--args", default="{}", help="args: a JSON object, @FILE or -")
    request.add_argument(
        "--key", type=Path, default=DEFAULT_KEY_FILE, help=f"key file (default {DEFAULT_KEY_FILE})"
    )
    request.add_argument("--timeout", type=float, default=30.0, help="seconds (default 30)")
    request.add_argument(
        "--if-offline",
        choices=("wait", "fail"),
        default="wait",
        help="when the recipient is not connected: wait for it (default) or fail at once",
    )
    request.add_argument("--encrypt", action="store_true", help=encrypt_help)
    add_memory_option(request)
    request.add_argument("--gateway", default=gateway, help=gateway_help)
    request.set_defaults(run=_request)


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
        print(shown(exc.response), flush=True)
        raise FailureError(str(exc)) from None
    except RecipientOfflineError as exc:
        raise FailureError(str(exc)) from None
    except TimeoutError:  # before OSError, its base class
        raise FailureError(f"no EXEC_RESPONSE from {args.to} within {args.timeout:g}s") from None
    except (GatewayUnreachableError, OSError) as exc:
        raise unreachable(args.gateway, exc) from None
    except (IoapError, ClientError) as exc:
        raise FailureError(f"the request failed: {exc}") from None
    print(shown(response), flush=True)
    return 0
