"""The hot-path frame reader: fast signing bytes equal RFC 8785, strict envelope parsing."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.client import forge

from aiconexus.protocol import (
    Identity,
    MalformedMessageError,
    Message,
    UnsupportedVersionError,
    canonicalize,
    parse_envelope,
    signing_bytes,
)
from aiconexus_gateway.routing.frames import GatewayFrames

_json: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(payload=st.dictionaries(st.text(max_size=8), _json, max_size=5))
def test_signing_bytes_equal_rfc8785(payload: dict[str, Any]) -> None:
    """Fast path or not, the signing bytes are exactly the reference JCS bytes."""
    envelope = {"version": "1.0", "id": "x", "payload": payload, "signature": "sig"}
    expected = canonicalize({k: v for k, v in envelope.items() if k != "signature"})
    assert signing_bytes(envelope) == expected


def test_parse_envelope_reads_a_signed_frame() -> None:
    """A frame from Message.create parses; routing fields are exposed."""
    alice, bob = Identity.generate(), Identity.generate()
    message = Message.create(alice, "OFFER", bob.did, {"sdp": "x"})
    envelope = parse_envelope(message.to_json())
    assert (envelope.id, envelope.type, envelope.sender, envelope.recipient) == (
        message.id,
        "OFFER",
        alice.did,
        bob.did,
    )


def test_duplicate_keys_are_malformed() -> None:
    """A frame with a repeated key is refused, whatever the layout."""
    alice = Identity.generate()
    text = Message.create(alice, "OFFER", alice.did, {"sdp": "x"}).to_json()
    with pytest.raises(MalformedMessageError):
        parse_envelope(text[:-1] + ',"to":null}')


# Same length as orjson's re-serialisation (1e2 -> 100.0 makes up for the repeated "n").
COMPENSATED_DUPLICATE = '{"sdp":"x","n":1e2,"n":1e2,"m":1e2,"o":1e2,"p":1e2}'


def compensated_duplicate_frame(sender: Identity, to: str) -> str:
    """A compact frame whose payload repeats "n", signed over the last-wins object."""
    payload = {"sdp": "x", "n": 100, "m": 100, "o": 100, "p": 100}  # JCS writes 1e2 as 100
    text = forge(sender, to=to, payload=payload)
    data = json.loads(text)
    head, _, tail = text.partition(json.dumps(payload, separators=(",", ":")))
    assert tail and json.loads(head + COMPENSATED_DUPLICATE + tail) == data
    return head + COMPENSATED_DUPLICATE + tail


def test_duplicate_keys_hidden_by_longer_numbers_are_malformed() -> None:
    """A repeated key is refused even when the frame is as long as its re-serialisation."""
    alice = Identity.generate()
    text = compensated_duplicate_frame(alice, alice.did)
    assert len(text.encode()) == len(orjson.dumps(json.loads(text)))
    with pytest.raises(MalformedMessageError):
        parse_envelope(text)


def test_an_ack_of_several_ids_has_no_correlation_id() -> None:
    """A coalesced ACK lists its ids, omits correlation_id and verifies; one id keeps it."""
    gateway, agent = Identity.generate(), Identity.generate()
    frames = GatewayFrames(gateway)
    several = Message.parse(frames.ack(agent.did, ["m1", "m2", "m3"], "queued"))
    several.verify()
    assert several.correlation_id is None and "correlation_id" not in several.to_json()
    assert several.payload == {"status": "queued", "ids": ["m1", "m2", "m3"]}
    single = Message.parse(frames.ack(agent.did, ["m1"], "delivered"))
    assert single.correlation_id == "m1"


def test_other_version_is_unsupported() -> None:
    """Version "2.0" raises UnsupportedVersionError; a non-string version is malformed."""
    data = json.loads(Message.create(Identity.generate(), "PING", None, {}).to_json())
    with pytest.raises(UnsupportedVersionError):
        parse_envelope(json.dumps({**data, "version": "2.0"}))
    with pytest.raises(MalformedMessageError):
        parse_envelope(json.dumps({**data, "version": 1}))


@pytest.mark.parametrize("kind", ["ack", "error", "pong", "registered", "challenge"])
def test_gateway_frames_verify_with_the_protocol_core(kind: str) -> None:
    """Every gateway frame parses and verifies with aiconexus.protocol.Message."""
    gateway, agent = Identity.generate(), Identity.generate()
    frames = GatewayFrames(gateway)
    text = {
        "ack": lambda: frames.ack(agent.did, ["m1"], "delivered"),
        "error": lambda: frames.error(agent.did, "CLOCK_SKEW", "late", "m1", {"skew_s": 1.5}),
        "pong": lambda: frames.pong(agent.did, "m1", 3),
        "registered": lambda: frames.registered(agent.did, "m1", "s1", 15.0, 2),
        "challenge": lambda: frames.challenge("nonce"),
    }[kind]()
    message = Message.parse(text)
    message.verify()
    assert message.from_ == gateway.did
    message.check_fresh()
