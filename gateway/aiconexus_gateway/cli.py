"""The ``aiconexus-gateway`` console script."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .keys import KeyFileError
from .logs import configure_logging
from .settings import Settings, SettingsError

__all__ = ["main", "parse_args"]

EXIT_CONFIG = 2


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options; each overrides its environment variable."""
    parser = argparse.ArgumentParser(
        prog="aiconexus-gateway",
        description="AIConexus gateway: discovery, authentication and routing for IoAP agents. "
        "Every other setting comes from the environment (see the README).",
    )
    parser.add_argument("--host", help="interface to listen on (GATEWAY_HOST)")
    parser.add_argument("--port", help="TCP port (GATEWAY_PORT)")
    parser.add_argument("--workers", help="worker processes (GATEWAY_WORKERS)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the gateway; exit 2 with a one-line message on a bad setting."""
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
    except SettingsError as exc:
        print(f"aiconexus-gateway: invalid setting {exc}", file=sys.stderr)
        return EXIT_CONFIG
    os.environ.update({k: v for k, v in environ.items() if k.startswith("GATEWAY_")})
    configure_logging(settings.log_level, settings.log_file)
    from .server import run

    try:
        run(settings)
    except KeyFileError as exc:
        print(f"aiconexus-gateway: GATEWAY_KEY_FILE: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
