"""The independent minimal client agrees with every shipped test vector."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from nacl.exceptions import BadSignatureError

from interop.minimal_client import (
    Keypair,
    b58decode,
    b58encode,
    b64url_decode,
    build_frame,
    canonical_json,
    did_from_public_key,
    public_key_from_did,
    verify_ed25519,
    verify_frame,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
ENVELOPES = json.loads((VECTORS / "envelopes.json").read_text(encoding="utf-8"))
DID_VECTORS = json.loads((VECTORS / "did-key-ed25519.json").read_text(encoding="utf-8"))
EDGES = json.loads((VECTORS / "ed25519-edges.json").read_text(encoding="utf-8"))
JCS_NAMES = sorted(path.name for path in (VECTORS / "jcs" / "input").glob("*.json"))


def test_spec_did_key_example() -> None:
    """The did:key method's example key and DID convert into each other."""
    public_key = b58decode("4zvwRjXUKGfvwnParsHAS3HuSVzV5cA4McphgmoCtajS")
    did = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp"
    assert did_from_public_key(public_key) == did
    assert public_key_from_did(did) == public_key


@pytest.mark.parametrize("vector", DID_VECTORS, ids=lambda v: v["seed"][-2:])
def test_did_key_seed_vectors(vector: dict[str, str]) -> None:
    """Each published seed gives the published base58 public key and did:key."""
    keys = Keypair(bytes.fromhex(vector["seed"]))
    assert b58encode(keys.public_key) == vector["publicKeyBase58"]
    assert keys.did == vector["did"]


@pytest.mark.parametrize(
    "did",
    [
        "did:key:4zvwRjXUKGfvwnParsHAS3HuSVzV5cA4McphgmoCtajS",
        "did:key:z4zvwRjXUKGfvwnParsHAS3HuSVzV5cA4McphgmoCtajS",
        "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme",
    ],
)
def test_non_standard_did_forms_refused(did: str) -> None:
    """Bare keys and non-Ed25519 multicodecs are not Ed25519 did:keys."""
    with pytest.raises(ValueError):
        public_key_from_did(did)


@pytest.mark.parametrize("name", JCS_NAMES)
def test_jcs_vectors(name: str) -> None:
    """Canonicalizing each RFC 8785 input gives the expected output bytes."""
    value = json.loads((VECTORS / "jcs" / "input" / name).read_text(encoding="utf-8"))
    expected = (VECTORS / "jcs" / "output" / name).read_bytes()
    assert canonical_json(value) == expected


@pytest.mark.parametrize(
    ("number", "text"),
    [(0.0, "0"), (-0.0, "0"), (1.0, "1"), (4.5, "4.5"), (1e21, "1e+21"), (1e20, "100000000000000000000"),
     (1.5e-7, "1.5e-7"), (0.000001, "0.000001"), (-2.5e-10, "-2.5e-10"), (123456789012, "123456789012"),
     (5e-324, "5e-324"), (1.7976931348623157e308, "1.7976931348623157e+308")],
)  # fmt: skip
def test_number_formatting(number: float, text: str) -> None:
    """Numbers are written as ECMAScript writes them."""
    assert canonical_json(number).decode() == text


@pytest.mark.parametrize("case", ENVELOPES["envelopes"], ids=lambda c: c["name"])
def test_envelope_vectors(case: dict[str, Any]) -> None:
    """Signing input, signature and signer DID of every shipped envelope are reproduced."""
    envelope = case["envelope"]
    keys = Keypair(bytes.fromhex(case["signer_seed"]))
    assert keys.did == envelope["from"]
    unsigned = {key: value for key, value in envelope.items() if key != "signature"}
    signing_input = canonical_json(unsigned)
    assert signing_input == case["signing_input"].encode("utf-8")
    assert b64url_decode(case["signature"]) == keys.sign(signing_input)
    verify_frame(json.dumps(envelope))
    rebuilt = build_frame(
        keys,
        envelope["type"],
        envelope["to"],
        envelope["payload"],
        correlation_id=envelope.get("correlation_id"),
        message_id=envelope["id"],
        timestamp=envelope["timestamp"],
    )
    assert json.loads(rebuilt) == envelope


def test_tampered_vector_fails() -> None:
    """Changing one payload character of a shipped envelope breaks its signature."""
    envelope = dict(ENVELOPES["envelopes"][3]["envelope"])
    envelope["payload"] = {"sdp": envelope["payload"]["sdp"] + " "}
    with pytest.raises(BadSignatureError):
        verify_frame(json.dumps(envelope))


def test_duplicate_keys_refused() -> None:
    """A frame with a duplicated key is refused before any signature check."""
    frame = json.dumps(ENVELOPES["envelopes"][0]["envelope"])
    with pytest.raises(ValueError, match="duplicate"):
        verify_frame(frame[:-1] + ', "version": "1.0"}')


@pytest.mark.parametrize("case", EDGES["cases"], ids=lambda case: case["name"])
def test_zip215_edge_cases_refused(case: dict[str, str]) -> None:
    """Small-order keys and R, non-canonical encodings: refused, as IoAP requires."""
    assert case["result"] == "invalid"
    assert not verify_ed25519(
        bytes.fromhex(case["public_key"]),
        bytes.fromhex(case["message"]),
        bytes.fromhex(case["signature"]),
    )


def test_forged_identity_point_envelope_refused() -> None:
    """The REGISTER 'signed' with R = identity, S = 0 by the identity point's did:key."""
    envelope = EDGES["forged_envelope"]["envelope"]
    assert canonical_json({k: v for k, v in envelope.items() if k != "signature"}) == (
        EDGES["forged_envelope"]["signing_input"].encode()
    )
    with pytest.raises(BadSignatureError):
        verify_frame(json.dumps(envelope))
