"""One capabilities limit: what the payload schema allows, the default gateway registers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from support.client import RawClient, forge
from support.inprocess import InProcessGateway

from aiconexus.protocol import MAX_CAPABILITIES, MalformedMessageError, MessageType
from aiconexus.protocol.payloads import validate_payload

PROTOCOL = Path(__file__).resolve().parents[2] / "PROTOCOL.md"


def _schema_maximum() -> int:
    """The most capabilities the REGISTER schema of the protocol core accepts."""
    count = 0
    while count < 4096:
        try:
            validate_payload(
                MessageType.REGISTER, {"nonce": "n", "capabilities": ["c"] * (count + 1)}
            )
        except MalformedMessageError:
            return count
        count += 1
    raise AssertionError("the REGISTER schema does not bound capabilities")


async def test_a_register_at_the_schema_maximum_is_registered(gateway: InProcessGateway) -> None:
    """A client that sends as many capabilities as the schema allows gets REGISTERED."""
    most = _schema_maximum()
    assert most == MAX_CAPABILITIES
    client = await RawClient.open(gateway.ws_url)
    await client.read_challenge()
    await client.register(capabilities=[f"cap-{n}" for n in range(most)])
    await client.expect(MessageType.REGISTERED)
    await client.close()


async def test_one_more_capability_is_malformed(gateway: InProcessGateway) -> None:
    """One capability over the limit: ERROR MALFORMED_MESSAGE, then close 1008."""
    client = await RawClient.open(gateway.ws_url)
    challenge = await client.read_challenge()
    capabilities = [f"cap-{n}" for n in range(MAX_CAPABILITIES + 1)]
    payload = {"nonce": challenge.payload["nonce"], "capabilities": capabilities}
    await client.send_text(
        forge(client.identity, type="REGISTER", to=challenge.from_, payload=payload)
    )
    error = await client.expect_error("MALFORMED_MESSAGE")
    assert "capabilities" in error.payload["message"]
    assert await client.closed() == 1008


def test_protocol_md_states_one_number() -> None:
    """PROTOCOL.md gives the capabilities limit once, as the code has it."""
    text = PROTOCOL.read_text(encoding="utf-8")
    stated = re.findall(r"at most (\d+) entries", text)
    assert stated == [str(MAX_CAPABILITIES)]
    assert re.search(r"REGISTER_MAX_CAPABILITIES` capabilities \[\d", text) is None


@pytest.mark.parametrize("count", [0, MAX_CAPABILITIES])
def test_schema_accepts_up_to_the_limit(count: int) -> None:
    """The schema takes 0 to MAX_CAPABILITIES capabilities."""
    validate_payload(MessageType.REGISTER, {"nonce": "n", "capabilities": ["c"] * count})
