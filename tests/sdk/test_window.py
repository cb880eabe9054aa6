"""The send window and the re-send delay, without I/O: slow start, lift, back-off."""

from __future__ import annotations

import doctest

import aiconexus._window as window_module
from aiconexus._window import (
    INITIAL_RTO_S,
    INITIAL_WINDOW,
    MAX_RTO_S,
    MAX_WINDOW,
    MIN_RTO_S,
    RetransmitTimer,
    SendWindow,
)


def test_the_module_examples_hold() -> None:
    """The doctest of the module docstring passes."""
    assert doctest.testmod(window_module).failed == 0


def test_the_window_doubles_per_round_then_grows_slowly_then_lifts() -> None:
    """Slow start up to half the window of the refusal, one per round after, lifted at the top."""
    window = SendWindow()
    window.limit = 64.0
    window.on_refused()
    assert window.limit == INITIAL_WINDOW and window.threshold == 32
    while window.limit is not None and window.limit < 32:
        window.on_answered()
    assert window.limit == 32
    for _ in range(32):
        window.on_answered()
    assert window.limit is not None and 32.9 < window.limit < 34
    window.limit, window.threshold = MAX_WINDOW - 0.5, float(MAX_WINDOW)
    window.on_answered()
    assert window.limit is None and window.has_room(10**9)


def test_the_delay_follows_the_round_trips_and_backs_off() -> None:
    """No sample: INITIAL_RTO_S; fast answers: MIN_RTO_S; each expiry doubles, capped."""
    timer = RetransmitTimer()
    assert timer.timeout_s == INITIAL_RTO_S
    timer.sample(0.001)
    assert timer.timeout_s == MIN_RTO_S
    timer.sample(2.0)
    assert timer.timeout_s > 2.0
    for _ in range(20):
        timer.expired()
    assert timer.timeout_s == MAX_RTO_S
    timer.progressed()
    assert timer.timeout_s < MAX_RTO_S
