"""Logging set-up: one line per event on stderr (and LOG_FILE), as text or as JSON.

Every logger of the process (the gateway's ``aiconexus.gateway``, uvicorn's, the backend's)
goes through one structlog ``ProcessorFormatter``. Gateway code logs with the standard
library and passes structured fields as ``extra``::

    logger.info("registered", extra={"did": did, "session": session_id})

``LOG_FORMAT=text`` (default) renders ``2026-01-01 12:00:00,000 INFO aiconexus.gateway:
registered did=... session=...``; ``LOG_FORMAT=json`` renders one JSON object a line with
``time`` (UTC, ISO 8601), ``level``, ``logger``, ``event`` and the fields. Payloads are never
logged.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import orjson
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from aiconexus_gateway.errors import GatewayError

__all__ = ["LogFileError", "configure_logging", "render_text"]


class LogFileError(GatewayError, OSError):
    """``LOG_FILE`` cannot be opened for appending."""


def render_text(_: WrappedLogger, __: str, event: EventDict) -> str:
    """``time LEVEL logger: event key=value ...`` (the format the gateway always had)."""
    head = f"{event.pop('time', '')} {event.pop('level', '').upper()} {event.pop('logger', '')}:"
    message = str(event.pop("event", ""))
    trace = event.pop("exception", None)
    fields = " ".join(f"{key}={_text_value(value)}" for key, value in event.items())
    line = f"{head} {message} {fields}" if fields else f"{head} {message}"
    return f"{line}\n{trace}" if trace else line


def _text_value(value: Any) -> str:
    text = str(value)
    return repr(text) if (" " in text or not text) else text


def _json_dumps(event: EventDict, **_: Any) -> str:
    ordered = {key: event.pop(key) for key in ("time", "level", "event") if key in event}
    ordered.update(event)
    return orjson.dumps(ordered, default=str).decode()


def _drop_private(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """Drop bookkeeping keys (``_record``, uvicorn's ``color_message``) and None fields."""
    for key in [k for k, v in event.items() if v is None or k[0] == "_" or k == "color_message"]:
        del event[key]
    return event


def _formatter(log_format: str) -> logging.Formatter:
    if log_format == "json":
        stamp = structlog.processors.TimeStamper(fmt="iso", utc=True, key="time")
        renderer: Processor = structlog.processors.JSONRenderer(serializer=_json_dumps)
        tail: list[Processor] = [structlog.processors.format_exc_info, renderer]
    else:
        stamp = structlog.processors.TimeStamper(fmt="%Y-%m-%d %H:%M:%S", utc=False, key="time")
        tail = [structlog.processors.format_exc_info, render_text]
    pre_chain: list[Processor] = [
        stamp,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
    ]
    cleanup = structlog.stdlib.ProcessorFormatter.remove_processors_meta
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=pre_chain, processors=[cleanup, _drop_private, *tail]
    )


def configure_logging(level: str, log_file: Path | None = None, log_format: str = "text") -> None:
    """Send every log record to stderr (and ``log_file``) at ``level`` in ``log_format``.

    Raises :class:`LogFileError` when ``log_file`` cannot be created or appended to.
    """
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_file is not None:
        try:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
        except OSError as exc:
            parent = log_file.parent
            cause = f"{parent} is not a directory" if parent.is_file() else exc.strerror or exc
            raise LogFileError(f"cannot write {log_file}: {cause}") from None
    formatter = _formatter(log_format)
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
