"""How many sent frames may await the gateway's answer at once, and when to send one again.

Pure (no I/O, no clock of its own), like TCP's congestion window and retransmission timer:

* :class:`SendWindow`: unbounded until the gateway refuses a frame as RATE_LIMITED or leaves
  frames unanswered; then it starts small (:data:`INITIAL_WINDOW` frames awaiting an answer)
  and grows by one with each answered frame (doubling per round trip, "slow start") up to
  half of what it was before, then by one per round trip; past :data:`MAX_WINDOW` it is lifted.
* :class:`RetransmitTimer`: how long a frame may stay unanswered while nothing else is
  answered either before it is written again under the same id (RFC 6298: smoothed round
  trip plus four deviations, doubled after each expiry, within :data:`MIN_RTO_S` and
  :data:`MAX_RTO_S`).

>>> window = SendWindow()
>>> window.has_room(10_000)
True
>>> window.on_refused()
>>> window.has_room(INITIAL_WINDOW), window.has_room(INITIAL_WINDOW - 1)
(False, True)
>>> for _ in range(4):
...     window.on_answered()
>>> window.limit
8.0
"""

from __future__ import annotations

import math

__all__ = [
    "INITIAL_RTO_S",
    "INITIAL_WINDOW",
    "MAX_RTO_S",
    "MAX_WINDOW",
    "MIN_RTO_S",
    "RetransmitTimer",
    "SendWindow",
]

INITIAL_WINDOW = 4
"""Frames awaiting an answer right after a RATE_LIMITED refusal or an unanswered frame."""
MAX_WINDOW = 4096
"""A window grown this far is lifted (unbounded again)."""
INITIAL_RTO_S = 1.0
"""Re-send delay before any round trip was measured."""
MIN_RTO_S = 0.2
"""Shortest re-send delay, however fast the gateway answers."""
MAX_RTO_S = 30.0
"""Longest re-send delay, however often it expired."""


class SendWindow:
    """The number of written, unanswered frames allowed at once (``limit`` None: any)."""

    __slots__ = ("limit", "threshold")

    def __init__(self) -> None:
        self.limit: float | None = None
        """Frames that may await an answer at once; None: no bound (the normal state)."""
        self.threshold: float = math.inf
        """Below it the limit grows by one per answer, above by one per window of answers."""

    def has_room(self, in_flight: int) -> bool:
        """True when one more frame may be written with ``in_flight`` awaiting an answer."""
        return self.limit is None or in_flight < int(self.limit)

    def on_answered(self) -> None:
        """The gateway answered a frame (ACK, or an ERROR other than RATE_LIMITED): grow."""
        if self.limit is None:
            return
        self.limit += 1.0 if self.limit < self.threshold else 1.0 / self.limit
        if self.limit >= MAX_WINDOW:
            self.limit, self.threshold = None, math.inf

    def on_refused(self) -> None:
        """RATE_LIMITED, or frames left unanswered: start again from :data:`INITIAL_WINDOW`.

        The growth slows down at half of the window this happened at (for an unbounded
        window: never, until the next refusal).
        """
        if self.limit is not None and self.limit > INITIAL_WINDOW:
            self.threshold = max(float(INITIAL_WINDOW), self.limit / 2)
        self.limit = float(INITIAL_WINDOW)


class RetransmitTimer:
    """The re-send delay, from round trips measured on frames written once (Karn's rule)."""

    __slots__ = ("_backoff", "_rttvar", "_srtt")

    def __init__(self) -> None:
        self._srtt: float | None = None
        self._rttvar = 0.0
        self._backoff = 1

    @property
    def timeout_s(self) -> float:
        """Seconds a frame may stay unanswered while nothing else is answered either."""
        base = INITIAL_RTO_S if self._srtt is None else self._srtt + 4 * self._rttvar
        return min(MAX_RTO_S, max(MIN_RTO_S, base) * self._backoff)

    def sample(self, rtt_s: float) -> None:
        """A frame written once was answered ``rtt_s`` seconds later."""
        rtt_s = max(0.0, rtt_s)
        if self._srtt is None:
            self._srtt, self._rttvar = rtt_s, rtt_s / 2
        else:
            self._rttvar = 0.75 * self._rttvar + 0.25 * abs(self._srtt - rtt_s)
            self._srtt = 0.875 * self._srtt + 0.125 * rtt_s
        self._backoff = 1

    def progressed(self) -> None:
        """A frame was answered (re-sent or not): the backed-off delay starts over."""
        self._backoff = 1

    def expired(self) -> None:
        """The delay passed without an answer: wait twice as long next time."""
        if self.timeout_s < MAX_RTO_S:
            self._backoff *= 2
