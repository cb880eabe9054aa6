"""CHALLENGE / REGISTER / REGISTERED, and every way a REGISTER is refused (ERROR, close 1008)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from support.client import RawClient, forge
from support.gateway import Gateway
from support.starter import StartGateway
from websockets.exceptions import ConnectionClosed

from aiconexus.protocol import Identity, Message, b58encode, b64url_encode, format_timestamp
from aiconexus_gateway.routing.connection import close_reason

CLOSE_POLICY = 1008


async def test_challenge_is_signed_and_addressed_to_nobody(gateway: Gateway) -> None:
    """CHALLENGE: to null, 32-byte base64url nonce, signed by the DID /health reports."""
    client = await RawClient.open(gateway.ws_url)
    challenge = await client.read_challenge()
    assert challenge.to is None
    assert challenge.from_ == gateway.did
    assert len(challenge.payload["nonce"]) == len(b64url_encode(bytes(32)))
    assert client.ws.subprotocol == "ioap.v1"
    await client.close()


async def test_register_answers_registered(gateway: Gateway) -> None:
    """REGISTERED answers the REGISTER id with session id, heartbeat and queued=0."""
    client = await RawClient.open(gateway.ws_url)
    await client.read_challenge()
    register = await client.register(capabilities=["translate"])
    reply = await client.expect("REGISTERED")
    assert reply.correlation_id == register.id
    assert reply.to == client.did
    assert reply.payload["queued"] == 0
    assert reply.payload["heartbeat_interval_s"] == 15
    assert reply.payload["session_id"]
    await client.close()


async def test_no_subprotocol_offered_still_works(gateway: Gateway) -> None:
    """A client that offers no subprotocol is served without one."""
    client = await RawClient.connect(gateway.ws_url, subprotocols=None)
    assert client.ws.subprotocol is None
    await client.close()


async def test_permessage_deflate_is_never_accepted(gateway: Gateway) -> None:
    """A client offering permessage-deflate gets no extension (compression costs ~7x)."""
    client = await RawClient.connect(gateway.ws_url, compression="deflate")
    assert client.ws.protocol.extensions == []
    await client.close()


async def test_subprotocol_is_configurable(start_gateway: StartGateway) -> None:
    """GATEWAY_SUBPROTOCOL changes the subprotocol the gateway selects."""
    gw = start_gateway(gateway_subprotocol="ioap.test")
    client = await RawClient.connect(gw.ws_url, subprotocols=["ioap.v1", "ioap.test"])
    assert client.ws.subprotocol == "ioap.test"
    await client.close()


async def _refused_and_closed(client: RawClient, text: str | bytes, code: str) -> Message:
    """``text`` refused with ERROR ``code`` to its sender, then close 1008 "CODE: ..."."""
    error = await client.refused(text, code)
    assert error.to == json.loads(text)["from"]
    assert await client.closed() == CLOSE_POLICY
    assert client.close_reason.startswith(f"{code}: ")
    return error


async def _closed_without_error(client: RawClient, code: str) -> str:
    """No frame at all (no sender DID to address an ERROR to), close 1008 "CODE: ..."."""
    with pytest.raises(ConnectionClosed):
        await client.ws.recv()
    assert client.close_code == CLOSE_POLICY
    reason = client.close_reason
    assert reason.startswith(f"{code}: ") and len(reason.encode()) <= 123
    return reason


async def test_tampered_register_is_invalid_signature(gateway: Gateway) -> None:
    """INVALID_SIGNATURE: a REGISTER changed after signing."""
    client = await RawClient.open(gateway.ws_url)
    await client.read_challenge()
    data = json.loads(client.register_message(capabilities=["a"]).to_json())
    data["payload"]["capabilities"] = ["b"]
    error = await _refused_and_closed(client, json.dumps(data), "INVALID_SIGNATURE")
    assert error.correlation_id == data["id"]


async def test_register_signed_by_another_key_is_invalid_signature(
    gateway: Gateway,
) -> None:
    """INVALID_SIGNATURE: from names a DID whose key did not sign."""
    client = await RawClient.open(gateway.ws_url)
    challenge = await client.read_challenge()
    other = Identity.generate()
    text = forge(
        client.identity,
        type="REGISTER",
        from_=other.did,
        to=client.gateway_did,
        payload={"nonce": challenge.payload["nonce"], "capabilities": []},
    )
    await _refused_and_closed(client, text, "INVALID_SIGNATURE")


async def test_non_standard_did_is_malformed(gateway: Gateway) -> None:
    """MALFORMED_MESSAGE: a DID of base58(bare key) without the multicodec prefix."""
    client = await RawClient.open(gateway.ws_url)
    challenge = await client.read_challenge()
    bare = "did:key:z" + b58encode(client.identity.public_key)
    text = forge(
        client.identity,
        type="REGISTER",
        from_=bare,
        to=client.gateway_did,
        payload={"nonce": challenge.payload["nonce"], "capabilities": []},
    )
    await _refused_and_closed(client, text, "MALFORMED_MESSAGE")


async def test_public_key_must_match_the_did(gateway: Gateway) -> None:
    """DID_MISMATCH: payload.public_key is a valid key but not the DID's key."""
    client = await RawClient.open(gateway.ws_url)
    await client.read_challenge()
    other = b58encode(Identity.generate().public_key)
    message = client.register_message(public_key=other)
    await _refused_and_closed(client, message.to_json(), "DID_MISMATCH")


async def test_matching_public_key_is_accepted(gateway: Gateway) -> None:
    """payload.public_key equal to the DID's key (base58 of the raw key) registers."""
    client = await RawClient.open(gateway.ws_url)
    await client.read_challenge()
    await client.register(public_key=b58encode(client.identity.public_key))
    await client.expect("REGISTERED")
    await client.close()


async def test_wrong_nonce_is_unauthorized(gateway: Gateway) -> None:
    """UNAUTHORIZED: the nonce is not the one of this connection's CHALLENGE."""
    client = await RawClient.open(gateway.ws_url)
    await client.read_challenge()
    message = client.register_message(nonce=b64url_encode(bytes(32)))
    await _refused_and_closed(client, message.to_json(), "UNAUTHORIZED")


async def test_register_to_someone_else_is_unauthorized(gateway: Gateway) -> None:
    """UNAUTHORIZED: REGISTER whose to is not the gateway's DID."""
    client = await RawClient.open(gateway.ws_url)
    challenge = await client.read_challenge()
    message = Message.create(
        client.identity,
        "REGISTER",
        Identity.generate().did,
        {"nonce": challenge.payload["nonce"], "capabilities": []},
    )
    await _refused_and_closed(client, message.to_json(), "UNAUTHORIZED")


async def test_old_register_is_clock_skew(gateway: Gateway) -> None:
    """CLOCK_SKEW: REGISTER timestamped 10 minutes ago (default skew 300 s)."""
    client = await RawClient.open(gateway.ws_url)
    challenge = await client.read_challenge()
    old = format_timestamp(datetime.now(UTC) - timedelta(minutes=10))
    message = Message.create(
        client.identity,
        "REGISTER",
        client.gateway_did,
        {"nonce": challenge.payload["nonce"], "capabilities": []},
        timestamp=old,
    )
    await _refused_and_closed(client, message.to_json(), "CLOCK_SKEW")


async def test_first_frame_not_register_is_not_registered(gateway: Gateway) -> None:
    """NOT_REGISTERED: any other well-formed frame before REGISTER."""
    client = await RawClient.open(gateway.ws_url)
    await client.read_challenge()
    message = client.make("OFFER", Identity.generate().did, {"sdp": "v=0"})
    error = await _refused_and_closed(client, message.to_json(), "NOT_REGISTERED")
    assert error.correlation_id == message.id


async def test_register_with_other_version_is_unsupported(gateway: Gateway) -> None:
    """UNSUPPORTED_VERSION: a REGISTER with version 2.0."""
    client = await RawClient.open(gateway.ws_url)
    challenge = await client.read_challenge()
    text = forge(
        client.identity,
        version="2.0",
        type="REGISTER",
        to=client.gateway_did,
        payload={"nonce": challenge.payload["nonce"]},
    )
    await _refused_and_closed(client, text, "UNSUPPORTED_VERSION")


@pytest.mark.parametrize(
    "frame",
    [b"\x00\x01binary", "not json", "[1,2]", '{"version":"1.0"}', '{"version":"1.0","from":7}'],
    ids=["binary", "not-json", "array", "missing-fields", "from-not-a-string"],
)
async def test_garbage_before_register_is_malformed(gateway: Gateway, frame: str | bytes) -> None:
    """No readable sender: no ERROR frame, close 1008 with "MALFORMED_MESSAGE: ..." as reason."""
    client = await RawClient.open(gateway.ws_url)
    await client.read_challenge()
    await client.send_text(frame)
    await _closed_without_error(client, "MALFORMED_MESSAGE")


async def test_incomplete_register_with_a_sender_gets_an_error(gateway: Gateway) -> None:
    """An unusable first frame with a string from: ERROR MALFORMED_MESSAGE addressed to it."""
    client = await RawClient.open(gateway.ws_url)
    await client.read_challenge()
    frame = json.dumps({"version": "1.0", "id": "r-1", "from": client.did})
    error = await _refused_and_closed(client, frame, "MALFORMED_MESSAGE")
    assert error.correlation_id == "r-1"


async def test_no_register_in_time_closes(start_gateway: StartGateway) -> None:
    """CONNECTION_TIMEOUT: a silent connection is closed 1008 "TIMEOUT: ...", no ERROR frame."""
    gw = start_gateway(connection_timeout=0.5)
    client = await RawClient.open(gw.ws_url)
    await client.read_challenge()
    reason = await _closed_without_error(client, "TIMEOUT")
    assert reason == "TIMEOUT: no REGISTER within 0.5s"


def test_close_reason_fits_a_close_frame() -> None:
    """A long message is cut to 123 bytes on a UTF-8 character boundary."""
    reason = close_reason("MALFORMED_MESSAGE", "é" * 200)
    assert reason.startswith("MALFORMED_MESSAGE: é")
    assert len(reason.encode()) in (122, 123)
    assert close_reason("TIMEOUT", "late") == "TIMEOUT: late"


async def test_refused_register_leaves_others_working(gateway: Gateway) -> None:
    """A refused handshake does not disturb a registered session."""
    alice = await RawClient.connect(gateway.ws_url)
    bob = await RawClient.connect(gateway.ws_url)
    intruder = await RawClient.open(gateway.ws_url)
    await intruder.read_challenge()
    await intruder.send_text("garbage")
    await _closed_without_error(intruder, "MALFORMED_MESSAGE")
    sent = await alice.send_message("INTENT", bob.did, {"query": "still there?"})
    assert await bob.recv_text() == sent.to_json()
    await alice.expect("ACK")
    await alice.close()
    await bob.close()
