"""The SDK's Ed25519 verdicts against Project Wycheproof's 151 verify cases (libsodium's rules)."""

from __future__ import annotations

import pytest
from support.wycheproof import WycheproofCase, load_cases

from aiconexus.protocol import Identity, InvalidSignatureError, Message, verify_ed25519

CASES = load_cases()


def test_suite_is_complete() -> None:
    """All 151 cases are read, valid and invalid ones, with odd signature lengths among them."""
    assert len(CASES) == 151
    assert {case.valid for case in CASES} == {True, False}
    assert any(len(case.signature) != 64 for case in CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"tc{case.tc_id}")
def test_sdk_verdict(case: WycheproofCase) -> None:
    """verify_ed25519 (what Message.verify uses) accepts exactly the valid signatures."""
    assert verify_ed25519(case.public_key, case.message, case.signature) is case.valid


def test_message_verify_uses_the_same_verdict() -> None:
    """A signed envelope verifies; flipping one bit of its signature fails InvalidSignatureError."""
    identity = Identity.generate()
    message = Message.create(identity, "INTENT", identity.did, {"query": "q"})
    message.verify()
    signature = bytearray(message.signature.encode())
    signature[5] = ord("A") if signature[5] != ord("A") else ord("B")
    tampered = message.model_copy(update={"signature": signature.decode()})
    with pytest.raises(InvalidSignatureError):
        tampered.verify()


def test_wrong_lengths_are_invalid_not_errors() -> None:
    """A short key or a signature with extra bytes is simply invalid."""
    case = next(case for case in CASES if case.valid)
    assert not verify_ed25519(case.public_key[:31], case.message, case.signature)
    assert not verify_ed25519(case.public_key, case.message, case.signature + b"\x00")
    assert not verify_ed25519(case.public_key, case.message[1:], case.signature[:63])
