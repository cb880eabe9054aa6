"""A client written only from PROTOCOL.md works against the real gateway, end to end."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from support.gateway import Gateway
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from interop.minimal_client import (
    Keypair,
    MinimalClient,
    build_frame,
    verify_frame,
)


async def registered_client(gateway: Gateway, capabilities: list[str]) -> MinimalClient:
    """A fresh identity, connected and registered."""
    client = MinimalClient(Keypair())
    await client.connect(gateway.ws_url, capabilities, {"name": capabilities[0]})
    return client


async def next_frame(client: MinimalClient, type_: str) -> tuple[str, dict[str, Any]]:
    """The next frame, which must be of ``type_`` (its signature is already verified)."""
    text, envelope = await client.receive()
    assert envelope["type"] == type_, envelope
    return text, envelope


async def expect_ack(client: MinimalClient, frame: str, status: str) -> None:
    """The next frame is the gateway's ACK of ``frame`` with ``status``."""
    _, ack = await next_frame(client, "ACK")
    message_id = json.loads(frame)["id"]
    assert ack["from"] == client.gateway_did and ack["to"] == client.keys.did
    assert ack["correlation_id"] == message_id
    assert ack["payload"] == {"status": status, "ids": [message_id]}


async def forward(sender: MinimalClient, recipient: MinimalClient, frame: str) -> dict[str, Any]:
    """Check that ``frame`` (already sent) arrives unchanged and verifiable, then ACKed."""
    text, envelope = await recipient.receive()
    assert text == frame  # byte for byte, as the author signed it
    assert envelope["from"] == sender.keys.did
    await expect_ack(sender, frame, "delivered")
    return envelope


def listed(gateway: Gateway, capability: str) -> list[str]:
    """DIDs that GET /agents lists with ``capability``."""
    response = gateway.get("/agents", capability=capability)
    assert response.status_code == 200
    return [agent["did"] for agent in response.json()["agents"]]


async def test_two_minimal_clients_talk_through_the_gateway(gateway: Gateway) -> None:
    """Register, OFFER/ANSWER, EXEC_REQUEST/EXEC_RESPONSE with ACKs, PING, then UNREGISTER."""
    alice = await registered_client(gateway, ["interop-alice"])
    bob = await registered_client(gateway, ["interop-bob"])
    assert alice.gateway_did == bob.gateway_did == gateway.did
    registered = alice.registered
    assert registered["to"] == alice.keys.did and registered["payload"]["queued"] == 0
    assert registered["payload"]["heartbeat_interval_s"] > 0
    assert listed(gateway, "interop-alice") == [alice.keys.did]

    offer = await alice.send("OFFER", bob.keys.did, {"sdp": "v=0\r\ns=-\r\n", "x-extra": [1.5]})
    got_offer = await forward(alice, bob, offer)
    assert got_offer["payload"]["x-extra"] == [1.5]
    answer = await bob.send(
        "ANSWER", alice.keys.did, {"sdp": "v=0"}, correlation_id=got_offer["id"]
    )
    got_answer = await forward(bob, alice, answer)
    assert got_answer["correlation_id"] == got_offer["id"]

    request = await alice.send(
        "EXEC_REQUEST",
        bob.keys.did,
        {"args": {"text": "Grüße ✓ 😀", "n": 1e21}, "timeout_ms": 5000},
    )
    got_request = await forward(alice, bob, request)
    assert got_request["payload"]["args"] == {"text": "Grüße ✓ 😀", "n": 1e21}
    result = {"status": "success", "result": {"echo": "Grüße ✓ 😀"}, "execution_time_ms": 0.25}
    response = await bob.send(
        "EXEC_RESPONSE", alice.keys.did, result, correlation_id=got_request["id"]
    )
    got_response = await forward(bob, alice, response)
    assert got_response["payload"] == result

    ping = await alice.send("PING", alice.gateway_did, {"sequence": 42})
    _, pong = await next_frame(alice, "PONG")
    assert pong["from"] == gateway.did and pong["correlation_id"] == json.loads(ping)["id"]
    assert pong["payload"] == {"sequence": 42}

    for client in (alice, bob):
        await client.send("UNREGISTER", client.gateway_did, {"reason": "done"})
        assert await client.wait_closed() == 1000
    assert listed(gateway, "interop-alice") == [] and listed(gateway, "interop-bob") == []


async def test_frames_for_an_offline_agent_arrive_after_its_registered(
    gateway: Gateway,
) -> None:
    """A frame for an absent DID is ACKed queued and delivered unchanged after REGISTERED."""
    alice = await registered_client(gateway, ["interop-sender"])
    bob_keys = Keypair()
    intent = await alice.send("INTENT", bob_keys.did, {"task": "translate", "cost": None})
    await expect_ack(alice, intent, "queued")
    bob = MinimalClient(bob_keys)
    registered = await bob.connect(gateway.ws_url, ["interop-receiver"])
    assert registered["payload"]["queued"] == 1
    text, _ = await bob.receive()
    assert text == intent
    await alice.close()
    await bob.close()


async def test_refused_frames_get_errors_and_the_session_goes_on(gateway: Gateway) -> None:
    """A forged signature and a replayed id are refused with ERRORs; the connection stays open."""
    alice = await registered_client(gateway, ["interop-refused"])
    bob = await registered_client(gateway, ["interop-refused-peer"])
    forged = json.loads(build_frame(alice.keys, "OFFER", bob.keys.did, {"sdp": "v=0"}))
    forged["payload"]["sdp"] = "v=1"
    await alice.send_text(json.dumps(forged))
    _, error = await next_frame(alice, "ERROR")
    assert error["payload"]["code"] == "INVALID_SIGNATURE"
    assert error["correlation_id"] == forged["id"]

    ping = build_frame(alice.keys, "PING", alice.gateway_did, {})
    await alice.send_text(ping)
    await next_frame(alice, "PONG")
    await alice.send_text(ping)
    _, replay = await next_frame(alice, "ERROR")
    assert replay["payload"]["code"] == "REPLAY_DETECTED"
    assert replay["correlation_id"] == json.loads(ping)["id"]

    offer = await alice.send("OFFER", bob.keys.did, {"sdp": "v=0"})
    await forward(alice, bob, offer)
    await alice.close()
    await bob.close()


async def test_any_json_layout_is_forwarded_unchanged_and_verifies(
    gateway: Gateway,
) -> None:
    """Indentation, member order and escapes of the sent text do not affect the signature."""
    alice = await registered_client(gateway, ["interop-layout"])
    bob = await registered_client(gateway, ["interop-layout-peer"])
    compact = build_frame(alice.keys, "INTENT", bob.keys.did, {"query": "déjà vu ✓ 😀", "n": 0.5})
    envelope = json.loads(compact)
    reordered = dict(reversed(list(envelope.items())))
    pretty = json.dumps(reordered, indent=3, ensure_ascii=True)
    assert "\\u00e9" in pretty and pretty != compact
    await alice.send_text(pretty)
    received = await forward(alice, bob, pretty)
    assert received == envelope
    await alice.close()
    await bob.close()


async def test_second_session_of_a_did_replaces_the_first(gateway: Gateway) -> None:
    """A new REGISTER of the same key closes the old connection with 4000."""
    keys = Keypair()
    first = MinimalClient(keys)
    await first.connect(gateway.ws_url, ["interop-replaced"])
    second = MinimalClient(keys)
    await second.connect(gateway.ws_url, ["interop-replaced"])
    assert await first.wait_closed() == 4000
    assert listed(gateway, "interop-replaced") == [keys.did]
    await second.close()


async def test_register_with_a_wrong_nonce_is_refused(gateway: Gateway) -> None:
    """A REGISTER that does not echo the challenge nonce gets ERROR UNAUTHORIZED and 1008."""
    keys = Keypair()
    async with connect(gateway.ws_url, subprotocols=[Subprotocol("ioap.v1")]) as websocket:
        challenge = verify_frame(str(await asyncio.wait_for(websocket.recv(), 10)))
        payload = {"nonce": "not-the-nonce", "capabilities": []}
        register = build_frame(keys, "REGISTER", challenge["from"], payload)
        await websocket.send(register)
        error = verify_frame(str(await asyncio.wait_for(websocket.recv(), 10)))
        assert error["type"] == "ERROR" and error["to"] == keys.did
        assert error["payload"]["code"] == "UNAUTHORIZED"
        assert error["correlation_id"] == json.loads(register)["id"]
        await asyncio.wait_for(websocket.wait_closed(), 10)
        assert websocket.close_code == 1008


async def test_minimal_client_opts_in_to_recipient_acks(gateway: Gateway) -> None:
    """With ``recipient_acks`` the sender's ``delivered`` follows the recipient's ACK (8.6).

    Until bob acknowledges, alice's next gateway frame is the PONG of a later PING; a bob who
    leaves without acknowledging gets the frame again after his next REGISTERED.
    """
    alice = await registered_client(gateway, ["talk"])
    bob_keys = Keypair()
    bob = MinimalClient(bob_keys, recipient_acks=True)
    registered = await bob.connect(gateway.ws_url, ["listen"])
    assert registered["payload"]["recipient_acks"] is True
    offer = await alice.send("OFFER", bob.keys.did, {"sdp": "v=0"})
    text, _ = await bob.receive()
    assert text == offer
    await alice.send("PING", alice.gateway_did, {"sequence": 1})
    await next_frame(alice, "PONG")
    await bob.acknowledge([json.loads(offer)["id"]])
    await expect_ack(alice, offer, "delivered")

    second = await alice.send("OFFER", bob.keys.did, {"sdp": "again"})
    text, _ = await bob.receive()
    assert text == second
    await bob.close()
    await expect_ack(alice, second, "queued")
    again = MinimalClient(bob_keys, recipient_acks=True)
    assert (await again.connect(gateway.ws_url, ["listen"]))["payload"]["queued"] == 1
    text, _ = await again.receive()
    assert text == second
    await again.acknowledge([json.loads(second)["id"]])
    for client in (alice, again):
        await client.close()


async def test_declared_capabilities_are_listed_and_bad_ones_refused(
    gateway: Gateway,
) -> None:
    """REGISTER's capability_info comes back from GET /agents; a key not announced: MALFORMED."""
    declared = {
        "interop-add": {
            "description": "Add two integers",
            "args_schema": {"type": "object", "required": ["a", "b"]},
            "examples": [{"a": 1, "b": 2}],
            "x-extra": True,
        }
    }
    client = MinimalClient(Keypair())
    await client.connect(gateway.ws_url, ["interop-add", "interop-plain"], {}, declared)
    [entry] = gateway.get("/agents", capability="interop-add").json()["agents"]
    assert entry["capability_info"] == declared
    await client.close()

    keys = Keypair()
    async with connect(gateway.ws_url, subprotocols=[Subprotocol("ioap.v1")]) as websocket:
        challenge = verify_frame(str(await asyncio.wait_for(websocket.recv(), 10)))
        payload = {
            "nonce": challenge["payload"]["nonce"],
            "capabilities": ["a"],
            "capability_info": {"b": {"description": "not announced"}},
        }
        await websocket.send(build_frame(keys, "REGISTER", challenge["from"], payload))
        error = verify_frame(str(await asyncio.wait_for(websocket.recv(), 10)))
        assert error["payload"]["code"] == "MALFORMED_MESSAGE"
        assert "capability_info names 'b'" in error["payload"]["message"]
