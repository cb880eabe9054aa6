"""did:key encoding against the W3C did:key method's published Ed25519 vectors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiconexus.protocol import (
    Identity,
    MalformedMessageError,
    b58decode,
    b58encode,
    did_from_public_key,
    is_valid_did,
    public_key_from_did,
    public_key_from_text,
)
from aiconexus.protocol.edwards import is_usable_public_key

_SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "vectors" / "did-key-ed25519.json"
_LOCAL = Path(__file__).resolve().parents[1] / "vectors" / "did-key-ed25519.json"
DID_VECTORS = json.loads((_SHARED if _SHARED.is_file() else _LOCAL).read_text())


def test_spec_example() -> None:
    """The did:key spec's example key gives the spec's example DID."""
    public_key = b58decode("4zvwRjXUKGfvwnParsHAS3HuSVzV5cA4McphgmoCtajS")
    did = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp"
    assert did_from_public_key(public_key) == did
    assert public_key_from_did(did) == public_key


@pytest.mark.parametrize("vector", DID_VECTORS, ids=lambda v: v["seed"][-2:])
def test_seed_vectors(vector: dict[str, str]) -> None:
    """Each published seed gives the published public key and DID."""
    identity = Identity.from_seed(bytes.fromhex(vector["seed"]))
    assert identity.did == vector["did"]
    assert b58encode(identity.public_key) == vector["publicKeyBase58"]
    assert is_valid_did(identity.did)


@pytest.mark.parametrize(
    "bad",
    [
        "did:key:4zvwRjXUKGfvwnParsHAS3HuSVzV5cA4McphgmoCtajS",  # bare key, no multibase/codec
        "did:key:z4zvwRjXUKGfvwnParsHAS3HuSVzV5cA4McphgmoCtajS",  # base58 of the bare key
        "did:web:example.com",
        "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooW0",  # '0' not base58
        "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme",  # secp256k1 key
        "",
    ],
)
def test_non_standard_forms_rejected(bad: str) -> None:
    """Forms other than did:key:z + base58btc(0xED01 || key) are rejected."""
    assert not is_valid_did(bad)
    with pytest.raises(MalformedMessageError):
        public_key_from_did(bad)


@given(st.binary(min_size=32, max_size=32))
def test_round_trip(public_key: bytes) -> None:
    """Any 32-byte key survives DID encoding and decoding; valid when the key is usable."""
    did = did_from_public_key(public_key)
    assert did.startswith("did:key:z6Mk")
    assert public_key_from_did(did) == public_key
    assert is_valid_did(did) == is_usable_public_key(public_key)


def test_public_key_text_forms() -> None:
    """REGISTER's public_key may be base58 of the key or the multibase form."""
    identity = Identity.from_seed(bytes(32))
    assert public_key_from_text(b58encode(identity.public_key)) == identity.public_key
    assert public_key_from_text(identity.did.removeprefix("did:key:")) == identity.public_key
    with pytest.raises(ValueError):
        public_key_from_text("abc")
