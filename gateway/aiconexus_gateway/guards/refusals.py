"""What a refused frame costs: an ERROR within a per-connection budget, a close after a streak.

A peer whose frames keep failing parsing or verification is not worth more signed ERRORs:
after ``REFUSALS_BEFORE_CLOSE`` such refusals in a row its connection is closed (1008, the
reason naming the code), and no connection gets more than ``ERRORS_PER_S`` ERROR frames per
second (the refusals beyond are only counted). Every limit is off when 0.

A frame refused before its signature was verified (``verified=False``: an ACK of a session
that did not opt in, a ``to`` that is not a did:key...) is such a refusal whatever its
code: nothing proves it came from the agent, and it costs a signed ERROR all the same.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from aiconexus.protocol import ErrorCode
from aiconexus_gateway.settings import Settings

__all__ = ["BUDGETED_CODES", "STREAK_CODES", "RefusalPolicy", "RefusalState", "Verdict"]

STREAK_CODES = frozenset(
    {
        ErrorCode.MALFORMED_MESSAGE.value,
        ErrorCode.MESSAGE_TOO_LARGE.value,
        ErrorCode.UNSUPPORTED_VERSION.value,
        ErrorCode.INVALID_SIGNATURE.value,
        ErrorCode.DID_MISMATCH.value,
    }
)
"""Codes of frames that failed parsing or verification: they make up a closing streak."""

BUDGETED_CODES = STREAK_CODES | {ErrorCode.RATE_LIMITED.value}
"""Codes whose ERRORs count against ERRORS_PER_S: refusals a flooding peer can cause at will.

Other refusals (QUEUE_FULL, UNKNOWN_AGENT, REPLAY_DETECTED, UNAUTHORIZED, INTERNAL_ERROR...)
follow a verified frame and are always answered, so a well-behaved client never waits for
an answer that was left out. A client told RATE_LIMITED re-sends what followed that frame.
"""


class RefusalState:
    """One connection's refusal streak and ERROR budget."""

    __slots__ = ("stamp", "streak", "tokens")

    def __init__(self) -> None:
        self.streak = 0
        self.tokens = -1.0  # full on first use
        self.stamp = 0.0


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do about one refusal: answer with an ERROR or not, close the connection or not."""

    answer: bool
    close: bool


class RefusalPolicy:
    """Decides, per refused frame, whether it is answered and whether the connection goes."""

    def __init__(self, *, streak_limit: int, errors_per_s: int) -> None:
        self.streak_limit = streak_limit
        self.errors_per_s = errors_per_s

    @classmethod
    def from_settings(cls, settings: Settings) -> RefusalPolicy:
        """REFUSALS_BEFORE_CLOSE and ERRORS_PER_S."""
        return cls(streak_limit=settings.refusals_before_close, errors_per_s=settings.errors_per_s)

    def refused(
        self, state: RefusalState, code: str, *, verified: bool = True, now: float | None = None
    ) -> Verdict:
        """Record one refusal with ``code``.

        ``verified=False``: the frame was refused before its signature was verified; it
        counts against the streak and the budget whatever its code (RATE_LIMITED, the
        gateway's flow control, counts against the budget only).
        """
        close = False
        streak = code in STREAK_CODES or (not verified and code != ErrorCode.RATE_LIMITED.value)
        if streak:
            state.streak += 1
            close = bool(self.streak_limit) and state.streak >= self.streak_limit
        rate = self.errors_per_s
        if not rate or not (streak or code in BUDGETED_CODES):
            return Verdict(True, close)
        if now is None:
            now = time.monotonic()
        if state.tokens < 0.0:
            state.tokens = float(rate)
        else:
            state.tokens = min(float(rate), state.tokens + (now - state.stamp) * rate)
        state.stamp = now
        if state.tokens < 1.0:
            return Verdict(False, close)
        state.tokens -= 1.0
        return Verdict(True, close)

    @staticmethod
    def accepted(state: RefusalState) -> None:
        """A frame passed parsing and verification: the streak starts again."""
        state.streak = 0
