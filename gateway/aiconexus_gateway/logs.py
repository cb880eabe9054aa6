"""Logging set-up: one line per connection event on stderr, and optionally in LOG_FILE.

Frames and payloads are never logged; connection events (connect, registered, replaced,
unregistered, disconnected) are logged at INFO by the ``aiconexus.gateway`` logger.
"""

from __future__ import annotations

import logging
from pathlib import Path

__all__ = ["LOG_FORMAT", "configure_logging"]

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str, log_file: Path | None = None) -> None:
    """Send gateway and server logs to stderr (and ``log_file``) at ``level``."""
    formatter = logging.Formatter(LOG_FORMAT)
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(level)
    # uvicorn logs every WebSocket accept and HTTP request; show that only when debugging.
    quiet = logging.DEBUG if level == "DEBUG" else logging.WARNING
    logging.getLogger("uvicorn.access").setLevel(quiet)
    logging.getLogger("uvicorn.error").setLevel(quiet)
