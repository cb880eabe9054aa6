"""What the ``aiconexus`` commands share: defaults, failures, key files, JSON arguments.

Also how an unreachable gateway, or a URL that is not the gateway's WebSocket, is reported,
and how a received frame is printed. Each command module adds its subcommands with an
:data:`AddCommands` function that sets ``run`` (an :data:`Run`) on each parser it adds.
"""

from __future__ import annotations

import argparse
import json
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeAlias

from websockets.exceptions import InvalidStatus

from aiconexus.client import GatewayClient
from aiconexus.errors import GatewayUnreachableError
from aiconexus.protocol import Identity, Message, canonicalize

__all__ = [
    "DEFAULT_GATEWAY_URL",
    "DEFAULT_KEY_FILE",
    "AddCommands",
    "CommandParser",
    "FailureError",
    "Run",
    "Subcommands",
    "UsageError",
    "add_memory_option",
    "json_object",
    "load_identity",
    "no_gateway_at",
    "one_shot_client",
    "shown",
    "unreachable",
]

DEFAULT_GATEWAY_URL = "ws://127.0.0.1:8000/ws"
"""Used when neither ``--gateway`` nor ``AICONEXUS_GATEWAY`` is given."""

DEFAULT_KEY_FILE = Path("~/.aiconexus/identity.key")
"""Where ``keygen`` writes and ``whoami`` reads a key when no file is named."""


class CommandParser(argparse.ArgumentParser):
    """The parser of ``aiconexus`` and of each command: a bad argument exits 2, on one line."""

    def error(self, message: str) -> NoReturn:
        """Print ``aiconexus ...: error: message`` and exit with status 2."""
        self.exit(2, f"{self.prog}: error: {message}\n")


Subcommands: TypeAlias = "argparse._SubParsersAction[CommandParser]"
"""What ``add_subparsers()`` returns: a command module adds its parsers to it."""

Run: TypeAlias = Callable[[argparse.Namespace], int]
"""Runs one command with its parsed arguments; returns the exit status."""

AddCommands: TypeAlias = Callable[[Subcommands, str], None]
"""Adds a module's subcommands (given the default gateway URL), each with ``run`` set."""


class UsageError(Exception):
    """A bad argument: reported on one line, exit status 2."""


class FailureError(Exception):
    """The command could not do its job (gateway down, refused): exit status 1."""


def load_identity(path: Path) -> Identity:
    """The identity in key file ``path``; warns on stderr when others may read the file."""
    path = path.expanduser()
    if path.is_dir():
        raise UsageError(f"{path} is a directory, not a key file (use --key FILE)")
    if not path.is_file():
        raise UsageError(f"no key file at {path} (create one with `aiconexus keygen`)")
    try:
        identity = Identity.load(path)
    except (OSError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        print(
            f"aiconexus: warning: key file {path} is readable by other users "
            f"(mode {mode:04o}); run: chmod 600 {path}",
            file=sys.stderr,
        )
    return identity


def json_object(value: str, option: str) -> dict[str, Any]:
    """Parse ``value`` (JSON, ``@FILE`` or ``-`` for stdin) as a JSON object."""
    if value == "-":
        text = sys.stdin.read()
    elif value.startswith("@"):
        try:
            text = Path(value[1:]).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"{option} {value}: {exc.strerror or exc}") from None
    else:
        text = value
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{option} is not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise UsageError(f"{option} must be a JSON object")
    return parsed


def unreachable(url: str, exc: BaseException) -> FailureError:
    """The failure to report when connecting to ``url`` raised ``exc``."""
    if isinstance(exc, GatewayUnreachableError) and exc.failures:
        exc = exc.failures[-1][1]
    if isinstance(exc, InvalidStatus) and exc.response.status_code in (403, 404):
        return no_gateway_at(url, f"the WebSocket handshake got HTTP {exc.response.status_code}")
    return FailureError(f"cannot reach the gateway at {url}: {str(exc) or type(exc).__name__}")


def no_gateway_at(url: str, detail: str) -> FailureError:
    """Something answers at ``url``, but not the gateway's WebSocket (wrong path)."""
    return FailureError(
        f"no gateway WebSocket at {url} ({detail}); the gateway serves it at /ws, "
        f"e.g. {DEFAULT_GATEWAY_URL}"
    )


def one_shot_client(
    url: str, identity: Identity, *, duplicate_memory: bool = True
) -> GatewayClient:
    """A client for one command: no reconnection, a short open timeout.

    It acknowledges only the frames the command reads (others stay with the gateway);
    ``duplicate_memory``: keep the ids of acknowledged frames in the file beside the key.
    """
    try:
        return GatewayClient(
            url,
            identity,
            reconnect=False,
            open_timeout_s=5.0,
            ack_when="taken",
            duplicate_memory=duplicate_memory,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def add_memory_option(command: argparse.ArgumentParser) -> None:
    """``--no-duplicate-memory``: keep the ids of acknowledged frames in memory only."""
    command.add_argument(
        "--no-duplicate-memory",
        dest="duplicate_memory",
        action="store_false",
        help="do not keep the ids of acknowledged frames in KEY.received (memory only)",
    )


def shown(message: Message) -> str:
    """A received frame as JSON text; an encrypted one with its payload decrypted."""
    if not message.encrypted:
        return message.to_json()
    return canonicalize({**message.to_dict(), "payload": message.payload}).decode("utf-8")
