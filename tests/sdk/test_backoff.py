"""The reconnection backoff policy: growth, cap, jitter bounds, reset, validation."""

from __future__ import annotations

import itertools
import random

import pytest

from aiconexus import Backoff


def test_without_jitter_delays_grow_geometrically_up_to_the_cap() -> None:
    """Jitter 0 gives initial * factor**n, capped at max_delay."""
    policy = Backoff(initial_delay=0.5, factor=3.0, max_delay=5.0, jitter=0.0)
    assert list(itertools.islice(policy.delays(), 5)) == [0.5, 1.5, 4.5, 5.0, 5.0]


def test_jitter_keeps_each_delay_within_its_band() -> None:
    """With jitter j every delay lies in [(1 - j) * base, base]."""
    policy = Backoff(initial_delay=0.1, factor=2.0, max_delay=3.0, jitter=0.5)
    bases = [0.1, 0.2, 0.4, 0.8, 1.6, 3.0, 3.0, 3.0]
    for seed in range(50):
        delays = list(itertools.islice(policy.delays(random.Random(seed)), len(bases)))
        for delay, base in zip(delays, bases, strict=True):
            assert 0.5 * base <= delay <= base


def test_jitter_spreads_clients_apart() -> None:
    """Two generators with different random sources do not yield the same delays."""
    policy = Backoff(jitter=1.0)
    first = list(itertools.islice(policy.delays(random.Random(1)), 4))
    second = list(itertools.islice(policy.delays(random.Random(2)), 4))
    assert first != second


def test_same_seed_gives_same_sequence() -> None:
    """The policy is pure: the random source alone decides the jitter."""
    policy = Backoff()
    first = list(itertools.islice(policy.delays(random.Random(7)), 10))
    assert first == list(itertools.islice(policy.delays(random.Random(7)), 10))


def test_a_new_generator_starts_again_from_the_initial_delay() -> None:
    """Reset after success = a fresh generator, whatever the old one reached."""
    policy = Backoff(initial_delay=0.2, factor=2.0, max_delay=10.0, jitter=0.0)
    old = policy.delays()
    for _ in range(6):
        next(old)
    assert next(old) == 10.0
    assert next(policy.delays()) == 0.2


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial_delay": -1.0},
        {"factor": 0.5},
        {"initial_delay": 2.0, "max_delay": 1.0},
        {"jitter": 1.5},
        {"jitter": -0.1},
    ],
)
def test_nonsense_policies_are_refused(kwargs: dict[str, float]) -> None:
    """Negative delays, shrinking factors, inverted bounds and bad jitter raise ValueError."""
    with pytest.raises(ValueError):
        Backoff(**kwargs)
