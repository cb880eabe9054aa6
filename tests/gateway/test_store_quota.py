"""The offline store's running totals and the memory store, without a gateway or event loop."""

from __future__ import annotations

import pytest

from aiconexus_gateway.backend import (
    StoreFullError,
    StoreLimits,
    UnseenRecipientError,
    store_limits,
)
from aiconexus_gateway.backend._memory_store import MemoryStore
from aiconexus_gateway.backend._store_quota import SeenAgents, StoreAccounts, frame_size
from aiconexus_gateway.backend.memory import remember_once
from aiconexus_gateway.settings import Settings


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_store_limits_defaults_are_the_settings_defaults() -> None:
    """A backend built without settings bounds its store as an unconfigured gateway does."""
    assert StoreLimits() == store_limits(Settings.from_env({}))
    assert StoreLimits() != store_limits(Settings.from_env({"STORE_SEEN_MAX": "1"}))


def test_replay_markers_expire_and_stay_bounded() -> None:
    """A key is refused while remembered; expired or oldest-beyond-the-bound ones are dropped."""
    markers: dict[int, float] = {}
    assert remember_once(markers, 1, now=0.0, window_s=10.0, most=3) is True
    assert remember_once(markers, 1, now=5.0, window_s=10.0, most=3) is False
    assert remember_once(markers, 2, now=6.0, window_s=10.0, most=3) is True
    assert remember_once(markers, 1, now=10.0, window_s=10.0, most=3) is True  # 1 expired
    assert list(markers) == [2, 1]
    assert remember_once(markers, 3, now=11.0, window_s=10.0, most=3) is True
    assert remember_once(markers, 4, now=12.0, window_s=10.0, most=3) is True  # 2 dropped
    assert list(markers) == [1, 3, 4]
    assert remember_once(markers, 2, now=12.0, window_s=10.0, most=3) is True


def test_frame_size_counts_utf8_bytes() -> None:
    """Byte bounds count UTF-8 bytes, not characters."""
    assert frame_size("abc") == 3
    assert frame_size("é€😀") == 2 + 3 + 4


def test_refusals_come_in_order_and_zero_is_off() -> None:
    """Recipient bounds first, then the sender's, the unseen share, the whole store."""
    accounts = StoreAccounts(
        StoreLimits(per_agent=0, total=0, per_sender=0, bytes_per_agent=10, bytes_per_sender=15)
    )
    accounts.add("r1", "s", 10, unseen=False)
    assert "agent" in str(accounts.refusal("r1", "s", 1, unseen=False))
    assert "sender" in str(accounts.refusal("r2", "s", 6, unseen=False))
    assert accounts.refusal("r2", "s", 5, unseen=False) is None
    assert accounts.refusal("r2", "other", 10, unseen=True) is None  # other bounds are off
    accounts.remove("r1", "s", 10, unseen=False)
    assert accounts.refusal("r1", "s", 10, unseen=False) is None
    assert (accounts.frames, accounts.bytes, accounts.held_by("s")) == (0, 0, (0, 0))


def test_unseen_share_refuses_with_its_own_error() -> None:
    """Past STORE_MAX_BYTES_UNSEEN, a recipient never seen is UnseenRecipientError."""
    accounts = StoreAccounts(StoreLimits(bytes_unseen=10, bytes_total=15))
    accounts.add("r1", "s", 10, unseen=True)
    refusal = accounts.refusal("r2", "t", 1, unseen=True)
    assert isinstance(refusal, UnseenRecipientError)
    assert accounts.refusal("r2", "t", 5, unseen=False) is None
    assert type(accounts.refusal("r2", "t", 6, unseen=False)) is StoreFullError


def test_seen_agents_are_bounded() -> None:
    """SeenAgents forgets the least recently registered DID first."""
    seen = SeenAgents(2)
    assert seen.add("a") == [] and seen.add("b") == []
    assert seen.add("a") == []  # a is now the most recent
    assert seen.add("c") == ["b"]
    assert "a" in seen and "b" not in seen and len(seen) == 2


def test_memory_store_keeps_order_and_expires_by_age() -> None:
    """Frames come back oldest first; expired ones leave the totals without a take."""
    clock = Clock()
    store = MemoryStore(StoreLimits(ttl=10), clock=clock)
    store.put("r1", "a", "s")
    clock.now += 5
    store.put("r2", "b", "s")
    store.put("r1", "c", "s")
    clock.now += 6  # "a" is older than the age limit
    assert store.expire(clock.now) == 1
    assert store.count == 2 and store.accounts.held_by("s") == (2, 2)
    assert store.take("r1") == ["c"]
    clock.now += 10
    assert store.take("r2") == [] and store.count == 0


def test_memory_store_refusal_does_not_scan_recipients() -> None:
    """A full store with 50,000 recipients refuses 50,000 frames in one pass each.

    Each refusal looks only at running totals and the head of the age queue; a store that
    walked every recipient per refusal would do 2.5 billion steps here.
    """
    clock = Clock()
    store = MemoryStore(StoreLimits(total=50_000, per_sender=0), clock=clock)
    for i in range(50_000):
        store.put(f"did:r{i}", "x", "attacker")
    for i in range(50_000):
        with pytest.raises(StoreFullError):
            store.put(f"did:v{i}", "x", "attacker")
    assert store.count == 50_000


def test_dead_entries_are_compacted() -> None:
    """Frames taken by their recipient do not pile up in the age queue."""
    clock = Clock()
    store = MemoryStore(StoreLimits(), clock=clock)
    for round_ in range(20):
        for i in range(500):
            store.put(f"did:{i}", f"{round_}", "s")
        for i in range(500):
            assert store.take(f"did:{i}") == [f"{round_}"]
    assert store.count == 0
    assert len(store._by_age) <= 2 * 1024 + 500
