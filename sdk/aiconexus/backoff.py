"""Reconnection delays: exponential backoff with jitter, as a pure policy.

:class:`Backoff` describes the policy; :meth:`Backoff.delays` yields the successive delays.
The client asks a fresh generator for delays after each successful connection, so the
sequence starts small again after every success ("reset after success").

>>> policy = Backoff(initial_delay=0.1, factor=2.0, max_delay=1.0, jitter=0.0)
>>> delays = policy.delays()
>>> [next(delays) for _ in range(6)]
[0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["Backoff"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    """Exponential backoff with proportional ("equal") jitter.

    The n-th delay (from 0) is ``base = min(max_delay, initial_delay * factor**n)`` scaled by a
    random factor in ``[1 - jitter, 1]``: with ``jitter=0.5`` each delay lies between half and
    all of its base, which spreads out clients that lost the same gateway at the same moment.
    """

    initial_delay: float = 0.1
    """First delay in seconds (before jitter)."""
    factor: float = 2.0
    """Growth factor between two successive delays (>= 1)."""
    max_delay: float = 10.0
    """Upper bound of any delay in seconds."""
    jitter: float = 0.5
    """Fraction of each delay that is random, from 0 (none) to 1 (full jitter)."""

    def __post_init__(self) -> None:
        if self.initial_delay < 0:
            raise ValueError("initial_delay must be >= 0")
        if self.factor < 1:
            raise ValueError("factor must be >= 1")
        if self.max_delay < self.initial_delay:
            raise ValueError("max_delay must be >= initial_delay")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be between 0 and 1")

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """Yield the delays to wait before each successive retry, forever.

        ``rng`` makes the jitter reproducible in tests; the module's random generator is used
        otherwise. Start a new generator to reset the sequence.
        """
        uniform = (rng or random.Random()).random
        base = self.initial_delay
        while True:
            yield base * (1.0 - self.jitter * uniform())
            base = min(self.max_delay, base * self.factor)
