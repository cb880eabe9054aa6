"""What a recipient refuses when it opens an encrypted payload (PROTOCOL.md 8.10)."""

from __future__ import annotations

import json

import pytest
from support.sealing import LOW_ORDER_X25519, craft_sealed

from aiconexus.protocol import (
    MAX_JSON_CONTAINERS,
    MAX_JSON_DEPTH,
    Identity,
    MalformedMessageError,
    did_from_public_key,
)
from aiconexus.protocol.sealed import DecryptionError, open_payload, seal_payload

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


@pytest.mark.parametrize(
    ("plaintext", "problem"),
    [
        (b"not json", "frame is not valid JSON"),
        (b"[1]", "frame must be a JSON object"),
        (b'{"query":"q","query":"r"}', "duplicate keys"),
        (b'{"query":NaN}', "NaN is not a JSON number"),
    ],
)
def test_a_plaintext_that_is_no_strict_json_object_does_not_open(
    plaintext: bytes, problem: str
) -> None:
    """Decrypted bytes are parsed as strictly as a frame: DecryptionError naming the problem."""
    with pytest.raises(DecryptionError, match=f"decrypted payload: {problem}"):
        open_payload(craft_sealed(SENDER, RECIPIENT, plaintext), RECIPIENT)


@pytest.mark.parametrize(
    "payload", [{"query": "q"}, {"enc": {"alg": "x"}}], ids=["plain", "enc-without-fields"]
)
def test_a_payload_not_in_the_encrypted_form_does_not_open(payload: dict[str, object]) -> None:
    """A plain payload, or an ``enc`` missing its fields, is refused before any decryption."""
    envelope = {**craft_sealed(SENDER, RECIPIENT, b'{"query":"q"}'), "payload": payload}
    with pytest.raises(DecryptionError, match="encrypted payload: "):
        open_payload(envelope, RECIPIENT)


ROUTING = {"version": "1.0", "id": "m-1", "type": "INTENT", "from": SENDER.did, "to": RECIPIENT.did}


@pytest.mark.parametrize("point", [0, 1, 2], ids=["zero", "identity", "off-curve"])
def test_sealing_for_a_did_key_that_is_no_usable_key_is_refused(point: int) -> None:
    """A recipient did:key whose bytes are no Ed25519 public key: MALFORMED_MESSAGE, nothing sealed."""
    envelope = {**ROUTING, "to": did_from_public_key(point.to_bytes(32, "little"))}
    with pytest.raises(MalformedMessageError, match="not a usable key"):
        seal_payload({"query": "q"}, envelope)


def test_a_payload_that_is_not_i_json_is_not_sealed() -> None:
    """What has no canonical form (NaN) cannot be sealed: MALFORMED_MESSAGE before encrypting."""
    with pytest.raises(MalformedMessageError, match="payload is not I-JSON"):
        seal_payload({"query": float("nan")}, ROUTING)


def test_a_nonce_of_the_wrong_length_is_refused() -> None:
    """The nonce given for a test vector must have 24 bytes."""
    with pytest.raises(ValueError, match="nonce 24"):
        seal_payload({"query": "q"}, ROUTING, nonce=bytes(12))
    assert open_payload({**ROUTING, "payload": seal_payload({"query": "q"}, ROUTING)}, RECIPIENT)
