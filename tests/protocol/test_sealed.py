"""Encrypted payloads in the protocol core: vectors, shape checks, tampering, Message."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from aiconexus.protocol import (
    SEALABLE_TYPES,
    DecryptionError,
    Identity,
    MalformedMessageError,
    Message,
    MessageType,
    check_payload,
    check_sealed,
    open_payload,
    seal_payload,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
DOC = json.loads((VECTORS / "encrypted-payloads.json").read_text(encoding="utf-8"))
KEYS = {name: Identity.from_seed(bytes.fromhex(k["seed"])) for name, k in DOC["keys"].items()}


def test_shipped_vectors_are_current() -> None:
    """tests/vectors/encrypted-payloads.json is what its generator produces."""
    spec = importlib.util.spec_from_file_location("gen_e2e", VECTORS / "generate_encrypted.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (VECTORS / "encrypted-payloads.json").read_text(encoding="utf-8") == module.render()


def test_vectors_cover_every_sealable_type() -> None:
    """One case per type that may be encrypted."""
    assert {c["envelope"]["type"] for c in DOC["cases"]} == {str(t) for t in SEALABLE_TYPES}


@pytest.mark.parametrize("case", DOC["cases"], ids=lambda c: c["name"])
def test_vector_opens_and_reseals(case: dict[str, Any]) -> None:
    """The frame verifies, opens to the plain payload, and sealing again gives the same bytes."""
    message = Message.parse(json.dumps(case["envelope"]))
    message.verify()
    assert message.encrypted
    opened = message.decrypt(KEYS[case["recipient"]])
    assert opened.payload == case["plain_payload"] and opened.encrypted
    opened.verify()  # still the frame as received
    assert opened.to_dict() == case["envelope"]
    resealed = seal_payload(
        case["plain_payload"],
        case["envelope"],
        ephemeral_secret=bytes.fromhex(case["ephemeral_secret"]),
        nonce=bytes.fromhex(case["nonce"]),
    )
    assert resealed == case["envelope"]["payload"]


@pytest.mark.parametrize("case", DOC["tampered"], ids=lambda c: c["name"])
def test_tampered_vectors_do_not_open(case: dict[str, Any]) -> None:
    """Correctly signed frames whose ciphertext, nonce or routing fields changed are refused."""
    message = Message.parse(json.dumps(case["envelope"]))
    message.verify()
    with pytest.raises(DecryptionError):
        message.decrypt(KEYS[case["recipient"]])


def test_only_the_recipient_opens() -> None:
    """A third identity (or the sender) cannot open a frame sealed for the recipient."""
    a, b, c = KEYS["a"], KEYS["b"], KEYS["c"]
    message = Message.create(a, "INTENT", b.did, {"query": "marker"}, encrypt=True)
    assert message.decrypt(b).payload == {"query": "marker"}
    for other in (a, c):
        with pytest.raises(DecryptionError):
            message.decrypt(other)


def test_replies_follow_the_request() -> None:
    """A reply to an encrypted message is encrypted (unless told otherwise or not sealable)."""
    a, b = KEYS["a"], KEYS["b"]
    request = Message.create(a, "EXEC_REQUEST", b.did, {"args": {}}, encrypt=True).decrypt(b)
    response = request.exec_response(b, {"ok": True})
    assert response.encrypted and response.correlation_id == request.id
    assert response.decrypt(a).payload["result"] == {"ok": True}
    assert not request.reply(b, "INTENT", {"status": "x"}, encrypt=False).encrypted
    plain = Message.create(a, "EXEC_REQUEST", b.did, {"args": {}})
    assert not plain.exec_response(b, 1).encrypted


def test_resigning_keeps_the_ciphertext() -> None:
    """A sealed payload signed again (a re-stamped re-send) still opens: timestamp not in AD."""
    a, b = KEYS["a"], KEYS["b"]
    first = Message.create(a, "OFFER", b.did, {"sdp": "x"}, encrypt=True)
    again = Message.create(
        a, "OFFER", b.did, first.payload, id=first.id, timestamp="2030-01-01T00:00:00.000Z"
    )
    assert again.payload == first.payload and again.decrypt(b).payload == {"sdp": "x"}


@pytest.mark.parametrize("kind", ["PING", "PONG", "REGISTER", "UNREGISTER", "ACK"])
def test_non_peer_types_cannot_be_encrypted(kind: str) -> None:
    """Only the sealable peer types may be encrypted."""
    with pytest.raises(ValueError, match="cannot be encrypted"):
        Message.create(KEYS["a"], kind, KEYS["b"].did, {}, encrypt=True)


def test_plaintext_must_fit_its_schema() -> None:
    """A plain payload is checked before sealing; a sealed one that does not fit, after opening."""
    a, b = KEYS["a"], KEYS["b"]
    with pytest.raises(MalformedMessageError):
        Message.create(a, "EXEC_REQUEST", b.did, {"no-args": 1}, encrypt=True)
    routing = {"version": "1.0", "id": "x", "type": "EXEC_REQUEST", "from": a.did, "to": b.did}
    sealed = seal_payload({"no-args": 1}, routing)
    with pytest.raises(MalformedMessageError, match="args"):
        open_payload({**routing, "payload": sealed}, b)


def _good_enc() -> dict[str, Any]:
    return dict(DOC["cases"][0]["envelope"]["payload"]["enc"])


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"alg": "A256GCM"}, "alg"),
        ({"epk": "A" * 42}, "epk"),
        ({"nonce": "A" * 33}, "nonce"),
        ({"ct": "A" * 20}, "ct"),
        ({"ct": "A" * 23 + "="}, "ct"),
        ({"ct": "A" * 23 + "+"}, "ct"),
        ({"ct": 5}, "ct"),
        ({"extra": "x"}, "exactly"),
    ],
)
def test_shape_check(change: dict[str, Any], problem: str) -> None:
    """Every field is typed and bounded; the message names the field, never its value."""
    enc = {**_good_enc(), **change}
    with pytest.raises(MalformedMessageError, match=problem) as info:
        check_sealed({"enc": enc})
    assert "AAAA" not in str(info.value)


def test_shape_check_bounds_ct_and_the_payload() -> None:
    """``max_ct_chars`` bounds ct; ``enc`` must be the only member for the encrypted form."""
    enc = _good_enc()
    check_sealed({"enc": enc}, max_ct_chars=len(enc["ct"]))
    with pytest.raises(MalformedMessageError):
        check_sealed({"enc": enc}, max_ct_chars=len(enc["ct"]) - 1)
    # With another member the payload is a plain one (enc is then an unknown extension).
    check_payload(MessageType.INTENT, {"enc": enc, "query": "q"})
    with pytest.raises(MalformedMessageError):
        check_payload(MessageType.OFFER, {"enc": "not an object"})
    check_payload(MessageType.PING, {"enc": enc})  # PING is never encrypted: plain extension
