"""A log that writes at most N lines a second and then says how many it left out.

A flood of refusals must not become a flood of log lines (disk, log shipping, CPU): past
``per_second`` lines in a one-second window, lines are counted instead of written, and one
``suppressed K similar lines`` line follows when the window ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

__all__ = ["ThrottledLog"]


class ThrottledLog:
    """Writes through ``logger`` at most ``per_second`` lines per one-second window."""

    def __init__(
        self,
        logger: logging.Logger,
        *,
        per_second: int = 10,
        what: str = "lines",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._per_second = per_second
        self._what = what
        self._clock = clock
        self._window = float("-inf")
        self._written = 0
        self.suppressed = 0
        self._flush_scheduled = False

    def log(self, level: int, message: str, *args: object) -> bool:
        """Write the line unless the window is full; True if it was written."""
        now = self._clock()
        if now - self._window >= 1.0:
            self.flush()
            self._window = now
            self._written = 0
        if self._written < self._per_second:
            self._written += 1
            self._logger.log(level, message, *args)
            return True
        self.suppressed += 1
        if not self._flush_scheduled:
            self._schedule_flush(1.0 - (now - self._window))
        return False

    def flush(self) -> None:
        """Write the ``suppressed`` line now, if lines were left out."""
        self._flush_scheduled = False
        if self.suppressed:
            count, self.suppressed = self.suppressed, 0
            self._logger.warning("suppressed %d similar %s in the last second", count, self._what)

    def _schedule_flush(self, delay: float) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop: the next line (or flush()) reports the count
            return
        self._flush_scheduled = True
        loop.call_later(max(0.0, delay), self.flush)
