"""RFC 3339 UTC timestamps as the envelope carries them (``2026-11-26T09:17:09.123Z``)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from .errors import MalformedMessageError

__all__ = ["epoch_seconds", "format_timestamp", "parse_timestamp"]

_SHAPE = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z")
_SECONDS: dict[str, float] = {}  # "YYYY-MM-DDTHH:MM:SS" -> epoch seconds, recent ones
_SECONDS_KEPT = 4096


_now_second: list[tuple[int, str]] = [(-1, "")]  # the last whole second formatted for "now"


def format_timestamp(moment: datetime | None = None) -> str:
    """Format ``moment`` (default: now) in UTC with millisecond precision and a ``Z``."""
    if moment is None:
        return _format_now(time.time_ns() // 1_000_000)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _format_now(milliseconds: int) -> str:
    """The timestamp of ``milliseconds`` since the epoch; the seconds part formatted once."""
    second, millisecond = divmod(milliseconds, 1000)
    cached_second, head = _now_second[0]
    if second != cached_second:
        head = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        _now_second[0] = (second, head)
    return f"{head}{millisecond:03d}Z"


def parse_timestamp(text: str) -> datetime:
    """Parse an RFC 3339 UTC timestamp ending in ``Z``; MalformedMessageError otherwise."""
    match = _SHAPE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise MalformedMessageError(f"timestamp must be RFC 3339 UTC ending in Z: {text!r}")
    year, month, day, hour, minute, second, fraction = match.groups()
    try:
        return datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            int((fraction or "0")[:6].ljust(6, "0")),
            tzinfo=UTC,
        )
    except ValueError as exc:
        raise MalformedMessageError(f"timestamp is not a real date and time: {text!r}") from exc


def epoch_seconds(text: str) -> float:
    """Seconds since the epoch of a timestamp; MalformedMessageError as :func:`parse_timestamp`.

    The same value as ``parse_timestamp(text).timestamp()`` (to the microsecond), at a fraction
    of the cost: the whole-second part is computed once per second seen and kept.
    """
    match = _SHAPE.fullmatch(text) if type(text) is str else None
    if match is None:
        return parse_timestamp(text).timestamp()  # raises the precise error
    head = text[:19]
    seconds = _SECONDS.get(head)
    if seconds is None:
        seconds = parse_timestamp(head + "Z").timestamp()
        if len(_SECONDS) >= _SECONDS_KEPT:
            _SECONDS.clear()
        _SECONDS[head] = seconds
    fraction = match.group(7)
    if fraction:
        return seconds + int(fraction[:6].ljust(6, "0")) / 1_000_000
    return seconds
