"""The ``aiconexus-gateway`` console script."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from aiconexus_gateway._version import gateway_version
from aiconexus_gateway.guards.policy_file import PolicyError, load_policy
from aiconexus_gateway.keys import KeyFileError
from aiconexus_gateway.observation.logs import LogFileError, configure_logging
from aiconexus_gateway.settings import DEFAULT_KEY_FILE, Settings, SettingsError

__all__ = ["main", "parse_args"]

EXIT_CONFIG = 2
EXIT_LISTEN = 3
"""Exit status when the address cannot be listened on (port in use...)."""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options; each overrides its environment variable."""
    parser = argparse.ArgumentParser(
        prog="aiconexus-gateway",
        description="AIConexus gateway: discovery, authentication and routing for IoAP agents. "
        "Every other setting comes from the environment (see the README).",
        epilog="The gateway's Ed25519 key (hence its DID) is read from GATEWAY_KEY_FILE, by "
        f"default ~/.aiconexus/gateway.key (here {DEFAULT_KEY_FILE}); it is created with "
        "mode 0600 on the first start. Keep it private and keep it: a new key is a new DID.",
    )
    parser.add_argument(
        "--version", action="version", version=f"aiconexus-gateway {gateway_version()}"
    )
    parser.add_argument("--host", help="interface to listen on (GATEWAY_HOST)")
    parser.add_argument("--port", help="TCP port (GATEWAY_PORT)")
    parser.add_argument("--workers", help="worker processes (GATEWAY_WORKERS)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the gateway; exit 2 on a bad setting (or LOG_FILE), 3 when it cannot listen."""
    args = parse_args(argv)
    environ = dict(os.environ)
    for option, variable in (("host", "GATEWAY_HOST"), ("port", "GATEWAY_PORT")):
        if getattr(args, option) is not None:
            environ[variable] = getattr(args, option)
    if args.workers is not None:
        environ["GATEWAY_WORKERS"] = args.workers
    try:
        settings = Settings.from_env(environ)
        if settings.gateway_workers > 1 and settings.storage_type != "redis":
            raise SettingsError(
                "GATEWAY_WORKERS",
                f"more than one worker needs STORAGE_TYPE=redis: with {settings.storage_type}"
                " storage every "
                "worker process would have its own agents and store, so frames would get lost",
            )
        if settings.policy_file is not None:
            try:
                load_policy(settings.policy_file)
            except PolicyError as exc:
                raise SettingsError("POLICY_FILE", str(exc)) from None
    except SettingsError as exc:
        print(f"aiconexus-gateway: invalid setting {exc}", file=sys.stderr)
        return EXIT_CONFIG
    os.environ.update({k: v for k, v in environ.items() if k.startswith("GATEWAY_")})
    try:
        configure_logging(settings.log_level, settings.log_file, settings.log_format)
    except LogFileError as exc:
        print(f"aiconexus-gateway: LOG_FILE: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    from aiconexus_gateway.server import ListenError, run

    try:
        run(settings)
    except KeyFileError as exc:
        print(f"aiconexus-gateway: GATEWAY_KEY_FILE: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except ListenError as exc:
        print(f"aiconexus-gateway: {exc}", file=sys.stderr)
        return EXIT_LISTEN
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
