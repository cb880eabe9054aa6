"""Values the protocol core cannot work with are refused where they are given, by name."""

from __future__ import annotations

from typing import Any

import pytest

from aiconexus.protocol import Capability, ReplayWindow, did_from_public_key, is_valid_did


@pytest.mark.parametrize(("window_s", "max_entries"), [(0, 10), (-1.0, 10), (60, 0)])
def test_a_replay_window_needs_a_positive_span_and_size(window_s: float, max_entries: int) -> None:
    """A window of no time or no room would accept every replay."""
    with pytest.raises(ValueError, match="window_s and max_entries must be positive"):
        ReplayWindow(window_s, max_entries)


def test_a_full_replay_window_forgets_the_oldest_first() -> None:
    """At ``max_entries`` the oldest id goes; a replay of a kept one is still caught."""
    window = ReplayWindow(60, max_entries=2)
    assert window.check_and_add("did:a", "1", now=0.0)
    assert window.check_and_add("did:a", "2", now=1.0)
    assert window.check_and_add("did:a", "3", now=2.0)
    assert len(window) == 2
    assert not window.check_and_add("did:a", "3", now=3.0)
    assert window.check_and_add("did:a", "1", now=3.0), "the oldest was forgotten"


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"name": ""}, "a capability name is a non-empty string"),
        ({"name": "x", "args_schema": ["a"]}, "args_schema must be a JSON Schema object"),
    ],
)
def test_a_capability_is_checked_when_it_is_declared(fields: dict[str, Any], problem: str) -> None:
    """An empty name or a schema that is no object: ValueError naming the field."""
    with pytest.raises(ValueError, match=problem):
        Capability(**fields)


def test_a_did_key_is_made_of_32_bytes_only() -> None:
    """31 bytes make no did:key; a DID of the right shape that decodes to no key is not valid."""
    with pytest.raises(ValueError, match="an Ed25519 public key has 32 bytes"):
        did_from_public_key(bytes(31))
    assert not is_valid_did("did:key:z6Mk" + "1" * 44)
    assert is_valid_did(
        did_from_public_key(
            bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
        )
    )
