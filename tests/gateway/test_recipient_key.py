"""A recipient did:key whose key nobody can own is refused, not stored (PROTOCOL.md 3.3)."""

from __future__ import annotations

import pytest
from support.client import RawClient
from support.inprocess import InProcessGateway

from aiconexus.protocol import Identity, did_from_public_key

P = 2**255 - 19

UNOWNABLE = {
    "identity point": (1).to_bytes(32, "little"),
    "order 4 point": bytes(32),
    "not canonical (y = p + 1)": (P + 1).to_bytes(32, "little"),
    "not on the curve (y = 2)": (2).to_bytes(32, "little"),
}


@pytest.mark.parametrize("key", UNOWNABLE.values(), ids=UNOWNABLE.keys())
async def test_frame_to_an_unownable_did_is_malformed(
    gateway: InProcessGateway, key: bytes
) -> None:
    """MALFORMED_MESSAGE, not ACK queued: nothing is stored for a key without an owner."""
    client = await RawClient.connect(gateway.ws_url)
    sent = await client.send_message("OFFER", did_from_public_key(key), {"sdp": "v=0"})
    error = await client.expect_error("MALFORMED_MESSAGE", sent.id)
    assert "to" in error.payload["message"]
    # the same id was not used up: the frame to a real, offline agent is then queued
    again = client.make("OFFER", Identity.generate().did, {"sdp": "v=0"}, id=sent.id)
    await client.send_text(again.to_json())
    assert await client.expect_acks(1) == {sent.id: "queued"}
    await client.close()
