"""One log line per refused frame, at a bounded rate, so a flood of bad frames cannot flood the log.

Each refusal (an ERROR answered, or a connection refused) is logged once with its code, up to
``per_second`` lines a second. Past that, refusals are only counted; one second after the
first suppressed one, a single ``suppressed`` line says how many were left out, by code.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter

__all__ = ["DEFAULT_PER_SECOND", "RefusalLog"]

DEFAULT_PER_SECOND = 20
"""Refusal lines logged per second at most (the summary line comes on top)."""


class RefusalLog:
    """Rate-limited ``refused`` log lines, with a periodic ``suppressed`` summary."""

    def __init__(
        self, logger: logging.Logger, *, per_second: int = DEFAULT_PER_SECOND, level: int = 20
    ) -> None:
        self._logger = logger
        self._per_second = per_second
        self._level = level
        self._window = 0.0
        self._used = 0
        self._suppressed: Counter[str] = Counter()
        self._summary: asyncio.TimerHandle | None = None

    def note(
        self,
        code: object,
        message: str,
        *,
        session: str | None = None,
        peer: str | None = None,
        did: str | None = None,
        correlation_id: str | None = None,
    ) -> None:
        """Log one refusal with ``code`` (or count it when over the rate)."""
        now = time.monotonic()
        if now - self._window >= 1.0:
            self._window, self._used = now, 0
        if self._used >= self._per_second:
            self._suppressed[str(code)] += 1
            if self._summary is None:
                self._schedule_summary()
            return
        self._used += 1
        fields = {"code": str(code), "reason": message, "session": session, "peer": peer}
        if did is not None:
            fields["did"] = did
        if correlation_id is not None:
            fields["id"] = correlation_id
        self._logger.log(self._level, "refused", extra=fields)

    def _schedule_summary(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop here: the summary waits for flush()
            return
        self._summary = loop.call_later(1.0, self.flush)

    def flush(self) -> None:
        """Log the ``suppressed`` summary now, if anything was left out."""
        self._summary = None
        if not self._suppressed:
            return
        counts, self._suppressed = self._suppressed, Counter()
        self._logger.warning(
            "suppressed",
            extra={
                "refusals": sum(counts.values()),
                "by_code": ",".join(f"{code}:{n}" for code, n in sorted(counts.items())),
            },
        )
