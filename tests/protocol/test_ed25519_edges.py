"""Signatures ZIP-215 accepts and the protocol core refuses (tests/vectors/ed25519-edges.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.ed25519_edges import FILE, EdgeCase, forged_envelope, load_edge_cases
from vectors import generate_ed25519_edges

from aiconexus.protocol import InvalidSignatureError, Message, is_valid_did, verify_ed25519

CASES = load_edge_cases()


def test_committed_file_is_the_generators_output() -> None:
    """ed25519-edges.json is exactly what generate_ed25519_edges.py writes."""
    assert FILE.read_text(encoding="utf-8") == generate_ed25519_edges.render()


def test_every_case_is_accepted_by_zip215() -> None:
    """The generator's ZIP-215 reading accepts each case (so each is a real disagreement)."""
    assert len(CASES) == 5
    for case in CASES:
        assert generate_ed25519_edges.zip215_verify(case.public_key, case.message, case.signature)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_core_refuses(case: EdgeCase) -> None:
    """verify_ed25519 (the SDK's and the gateway's verdict) refuses every case."""
    assert not verify_ed25519(case.public_key, case.message, case.signature)


def test_forged_envelope_is_refused() -> None:
    """The identity point's did:key is not valid and its 'signature' does not verify."""
    envelope = forged_envelope()
    assert not is_valid_did(envelope["from"])
    message = Message.parse(json.dumps(envelope))
    with pytest.raises(InvalidSignatureError):
        message.verify()


def test_vector_file_is_listed_in_protocol_md() -> None:
    """Section 12 names the file and the Wycheproof folder."""
    text = (Path(__file__).resolve().parents[2] / "PROTOCOL.md").read_text(encoding="utf-8")
    section = text.split("## 12. Test vectors", 1)[1].split("## 13.", 1)[0]
    assert "ed25519-edges.json" in section and "wycheproof/" in section
