"""The gateway's signature check against Project Wycheproof's 151 Ed25519 verify cases."""

from __future__ import annotations

import pytest
from support.wycheproof import WycheproofCase, load_cases

from aiconexus.protocol import verify_ed25519
from aiconexus_gateway.crypto import CryptoPool, verify_signature

CASES = load_cases()


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"tc{case.tc_id}")
def test_gateway_verdict(case: WycheproofCase) -> None:
    """verify_signature accepts exactly the valid signatures, as the SDK does."""
    verdict = verify_signature(case.public_key, case.message, case.signature)
    assert verdict is case.valid
    assert verdict is verify_ed25519(case.public_key, case.message, case.signature)


async def test_threaded_verdicts_match() -> None:
    """With crypto threads the verdicts are the same, case by case."""
    pool = CryptoPool(2, lambda data: b"")
    await pool.start()
    try:
        futures = [pool.verify(c.public_key, c.message, c.signature) for c in CASES]
        verdicts = [await future for future in futures]
    finally:
        pool.stop()
    assert verdicts == [case.valid for case in CASES]
