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

Each command lives in a module of its own (``_cli_keys``, ``_cli_agents``, ``_cli_messages``,
``_cli_listen``, ``_cli_ping``, ``_cli_mcp``) that adds its parser, with ``run`` set, through
a function listed in :data:`COMMANDS`; a new command is one more module and one more entry
there.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from importlib import metadata

from aiconexus._cli_agents import add_agents_command
from aiconexus._cli_common import (
    DEFAULT_GATEWAY_URL,
    DEFAULT_KEY_FILE,
    AddCommands,
    CommandParser,
    FailureError,
    Run,
    UsageError,
)
from aiconexus._cli_keys import add_key_commands
from aiconexus._cli_listen import add_listen_command
from aiconexus._cli_mcp import add_mcp_parser
from aiconexus._cli_messages import add_message_commands
from aiconexus._cli_ping import add_ping_command
from aiconexus.protocol import PROTOCOL_VERSION

__all__ = ["COMMANDS", "DEFAULT_GATEWAY_URL", "DEFAULT_KEY_FILE", "main"]

COMMANDS: tuple[AddCommands, ...] = (
    add_key_commands,
    add_agents_command,
    add_message_commands,
    add_listen_command,
    add_ping_command,
    add_mcp_parser,
)
"""The subcommands, in the order ``--help`` lists them: each adds its parsers, ``run`` set."""


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
    parser = CommandParser(
        prog="aiconexus",
        description="AIConexus command line tools.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add_commands in COMMANDS:
        add_commands(commands, gateway)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (also used as the console script)."""
    args = _parser().parse_args(argv)
    logging.getLogger("aiconexus").setLevel(logging.ERROR)
    run: Run = args.run
    try:
        return run(args)
    except UsageError as exc:
        print(f"aiconexus: error: {exc}", file=sys.stderr)
        return 2
    except FailureError as exc:
        print(f"aiconexus: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
