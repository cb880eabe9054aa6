"""``aiconexus keygen`` and ``aiconexus whoami``: make an identity key file, read its DID."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aiconexus._cli_common import (
    DEFAULT_KEY_FILE,
    FailureError,
    Subcommands,
    UsageError,
    load_identity,
)
from aiconexus.protocol import Identity

__all__ = ["add_key_commands"]


def add_key_commands(commands: Subcommands, gateway: str) -> None:
    """Add ``keygen`` and ``whoami`` (neither talks to a gateway)."""
    keygen = commands.add_parser("keygen", help="create a new identity key file")
    keygen.add_argument("--out", type=Path, help=f"key file to write (default {DEFAULT_KEY_FILE})")
    keygen.add_argument("--force", action="store_true", help="overwrite an existing file")
    keygen.set_defaults(run=_keygen)

    whoami = commands.add_parser("whoami", help="print the DID of a key file")
    whoami.add_argument(
        "--key", type=Path, default=DEFAULT_KEY_FILE, help=f"key file (default {DEFAULT_KEY_FILE})"
    )
    whoami.set_defaults(run=_whoami)


def _whoami(args: argparse.Namespace) -> int:
    print(load_identity(args.key).did)
    return 0


def _keygen(args: argparse.Namespace) -> int:
    out: Path | None = args.out
    path = (out or DEFAULT_KEY_FILE).expanduser()
    if path.is_dir():
        raise UsageError(f"{path} is a directory; name the key file, e.g. {path / 'agent.key'}")
    if path.exists() and not args.force:
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
