"""The gateway's signature check: Wycheproof's 151 Ed25519 cases and the ZIP-215 edge cases."""

from __future__ import annotations

import json
import uuid

import pytest
from support.client import RawClient
from support.ed25519_edges import EdgeCase, forged_envelope, load_edge_cases
from support.inprocess import InProcessGateway
from support.wycheproof import WycheproofCase, load_cases

from aiconexus.protocol import MessageType, format_timestamp, verify_ed25519
from aiconexus_gateway.guards.signatures import CryptoPool, verify_signature

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


@pytest.mark.parametrize("case", load_edge_cases(), ids=lambda case: case.name)
def test_gateway_refuses_what_zip215_accepts(case: EdgeCase) -> None:
    """Small-order keys and R, non-canonical encodings: the gateway's verdict is invalid."""
    assert not verify_signature(case.public_key, case.message, case.signature)


async def test_forged_register_of_the_identity_point_is_refused(gateway: InProcessGateway) -> None:
    """A live REGISTER from the identity point's did:key, R = identity, S = 0: closed 1008."""
    forged = forged_envelope()
    client = await RawClient.open(gateway.ws_url)
    challenge = await client.read_challenge()
    frame = {
        **forged,
        "id": str(uuid.uuid4()),
        "to": challenge.from_,
        "timestamp": format_timestamp(),
        "payload": {"nonce": challenge.payload["nonce"], "capabilities": []},
    }
    await client.send_text(json.dumps(frame))
    error = await client.expect(MessageType.ERROR)
    assert error.payload["code"] == "MALFORMED_MESSAGE", error.payload  # 7.2 #7: not usable
    assert await client.closed() == 1008
