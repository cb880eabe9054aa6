"""What a recipient refuses when it opens an encrypted payload (PROTOCOL.md 8.10)."""

from __future__ import annotations

import json

import pytest
from support.sealing import LOW_ORDER_X25519, craft_sealed

from aiconexus.protocol import MAX_JSON_CONTAINERS, MAX_JSON_DEPTH, Identity
from aiconexus.protocol.sealed import DecryptionError, open_payload

SENDER = Identity.from_seed(bytes(31) + b"\x01")
RECIPIENT = Identity.from_seed(bytes(31) + b"\x02")


def nested(levels: int) -> bytes:
    """An INTENT payload nesting ``levels`` levels, the payload object being the first."""
    inner = "[" * (levels - 1) + "]" * (levels - 1)
    return ('{"context":' + inner + "}").encode() if levels > 1 else b'{"query":"q"}'


def containers(count: int) -> bytes:
    """An INTENT payload holding ``count`` objects and arrays (itself included)."""
    return ('{"context":[' + ",".join(["{}"] * (count - 2)) + "]}").encode()


def test_all_zero_shared_secret_is_refused() -> None:
    """A low-order epk gives z = 0: the frame does not open, though its key was derived from 0."""
    envelope = craft_sealed(SENDER, RECIPIENT, b'{"query":"q"}', epk=LOW_ORDER_X25519)
    with pytest.raises(DecryptionError):
        open_payload(envelope, RECIPIENT)


def test_nesting_is_counted_from_the_payloads_level() -> None:
    """The plaintext is level 2: it nests 31 levels as a plain payload does, not 32."""
    levels = MAX_JSON_DEPTH - 1
    assert open_payload(craft_sealed(SENDER, RECIPIENT, nested(levels)), RECIPIENT)
    with pytest.raises(DecryptionError, match="deeper"):
        open_payload(craft_sealed(SENDER, RECIPIENT, nested(levels + 1)), RECIPIENT)


def test_container_limit_applies_to_the_plaintext() -> None:
    """At most 16384 objects and arrays in the plaintext alone."""
    opened = open_payload(
        craft_sealed(SENDER, RECIPIENT, containers(MAX_JSON_CONTAINERS)), RECIPIENT
    )
    assert len(opened["context"]) == MAX_JSON_CONTAINERS - 2
    with pytest.raises(DecryptionError, match="more than"):
        open_payload(
            craft_sealed(SENDER, RECIPIENT, containers(MAX_JSON_CONTAINERS + 1)), RECIPIENT
        )


def test_duplicate_names_in_the_plaintext_are_refused() -> None:
    """Strict JSON inside too: a duplicate member name does not open."""
    with pytest.raises(DecryptionError):
        open_payload(craft_sealed(SENDER, RECIPIENT, b'{"query":"a","query":"b"}'), RECIPIENT)


def test_helpers_build_what_they_say() -> None:
    """The payload builders nest and count as stated."""
    assert json.loads(nested(3)) == {"context": [[]]}
    assert json.loads(containers(4)) == {"context": [{}, {}]}
