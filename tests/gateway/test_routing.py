"""Routing between registered agents: byte-for-byte delivery, ACKs, order, PING, UNREGISTER."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from support.client import RawClient
from support.gateway import Gateway
from support.waiting import eventually

from aiconexus.protocol import Message

# One valid payload per agent type routed between agents.
PAYLOADS: dict[str, dict[str, Any]] = {
    "OFFER": {"sdp": "v=0 offer"},
    "ANSWER": {"sdp": "v=0 answer"},
    "ICE_CANDIDATE": {"candidate": "candidate:1 1 UDP 1 127.0.0.1 9 typ host", "sdp_mid": "0"},
    "INTENT": {"query": "translate", "params": {"lang": "fr"}, "cost": 1.5},
    "EXEC_REQUEST": {"args": {"text": "héllo ☃ \U0001f600"}, "timeout_ms": 1000},
    "EXEC_RESPONSE": {"status": "success", "result": [1, 2.25, None], "execution_time_ms": 3},
    "ERROR": {"code": "TIMEOUT", "message": "took too long"},
    "PING": {"sequence": 7},
    "PONG": {"sequence": 7},
    "REGISTER": {"nonce": "abc", "capabilities": []},
    "UNREGISTER": {"reason": "bye", "extra": {"kept": True}},
}


@pytest.mark.parametrize("kind", sorted(PAYLOADS))
async def test_every_agent_type_is_forwarded_byte_for_byte(pair: Any, kind: str) -> None:
    """Each of the eleven agent types reaches the recipient unchanged and is ACKed delivered."""
    alice, bob = pair
    sent = await alice.send_message(kind, bob.did, PAYLOADS[kind])
    received = await bob.recv_text()
    assert received == sent.to_json()
    Message.parse(received).verify()  # end-to-end verifiable
    ack = await alice.expect("ACK")
    assert ack.correlation_id == sent.id
    assert ack.payload == {"status": "delivered", "ids": [sent.id]}
    assert ack.to == alice.did


async def test_non_canonical_frame_is_forwarded_unchanged(pair: Any) -> None:
    """Whitespace and key order of the received text survive forwarding (signature still ok)."""
    alice, bob = pair
    message = alice.make("OFFER", bob.did, {"sdp": "x"})
    data = message.to_dict()
    fields = [f'"{key}": {json.dumps(data[key])}' for key in reversed(list(data))]
    text = "{\n  " + ",\n  ".join(fields) + "\n}"
    await alice.send_text(text)
    assert await bob.recv_text() == text
    await alice.expect("ACK")


async def test_order_is_kept_per_pair(pair: Any) -> None:
    """200 frames from one sender arrive in the order sent, each ACKed exactly once."""
    alice, bob = pair
    sent = [alice.make("INTENT", bob.did, {"query": f"q{i}"}) for i in range(200)]
    for message in sent:
        await alice.send_text(message.to_json())
    received = [await bob.recv_text() for _ in sent]
    assert received == [m.to_json() for m in sent]
    acked = await alice.expect_acks(len(sent))
    assert acked == {m.id: "delivered" for m in sent}


async def test_acks_of_a_burst_are_coalesced(pair: Any) -> None:
    """Frames written together are ACKed together: one signed ACK lists several ids.

    With Redis too: a connection's frames are checked while earlier ones wait for Redis.
    """
    alice, bob = pair
    sent = [alice.make("INTENT", bob.did, {"query": f"q{i}"}) for i in range(200)]
    for message in sent:
        await alice.send_text(message.to_json())
    assert [await bob.recv_text() for _ in sent] == [m.to_json() for m in sent]
    acks: list[Message] = []
    while sum(len(ack.payload["ids"]) for ack in acks) < len(sent):
        acks.append(await alice.expect("ACK"))
    assert sorted(i for ack in acks for i in ack.payload["ids"]) == sorted(m.id for m in sent)
    assert len(acks) < len(sent)
    for ack in acks:
        ids = ack.payload["ids"]
        assert ack.correlation_id == (ids[0] if len(ids) == 1 else None)
        assert ack.payload["status"] == "delivered"


async def test_ping_to_gateway_gets_pong(pair: Any) -> None:
    """PING addressed to the gateway: PONG with correlation_id and the same sequence."""
    alice, _ = pair
    ping = await alice.send_message("PING", alice.gateway_did, {"sequence": 42})
    pong = await alice.expect("PONG")
    assert pong.correlation_id == ping.id
    assert pong.payload == {"sequence": 42}


async def test_unregister_ends_session_and_leaves_agents(gateway: Gateway) -> None:
    """UNREGISTER: clean close (1000) and the agent is gone from /agents."""
    client = await RawClient.connect(gateway.ws_url, capabilities=["leaving"])
    assert client.did in _dids(gateway)
    await client.send_message("UNREGISTER", client.gateway_did, {"reason": "done"})
    assert await client.closed() == 1000
    await eventually(lambda: client.did not in _dids(gateway))
    assert "unregistered did=" + client.did in gateway.log()


async def test_second_register_on_same_connection_is_refused(pair: Any) -> None:
    """UNAUTHORIZED: REGISTER again on a registered connection; the session stays."""
    alice, bob = pair
    again = await alice.send_message("REGISTER", alice.gateway_did, {"nonce": "x"})
    await alice.expect_error("UNAUTHORIZED", again.id)
    sent = await alice.send_message("OFFER", bob.did, {"sdp": "still"})
    assert await bob.recv_text() == sent.to_json()


async def test_other_types_to_gateway_are_refused(pair: Any) -> None:
    """MALFORMED_MESSAGE: an OFFER addressed to the gateway itself."""
    alice, _ = pair
    offer = await alice.send_message("OFFER", alice.gateway_did, {"sdp": "x"})
    await alice.expect_error("MALFORMED_MESSAGE", offer.id)


async def test_error_and_pong_to_gateway_are_ignored(pair: Any) -> None:
    """ERROR and PONG addressed to the gateway get no answer; a PING after them does."""
    alice, _ = pair
    await alice.send_message("ERROR", alice.gateway_did, {"code": "TIMEOUT", "message": "x"})
    await alice.send_message("PONG", alice.gateway_did, {})
    ping = await alice.send_message("PING", alice.gateway_did, {})
    assert (await alice.expect("PONG")).correlation_id == ping.id


async def test_many_pairs_concurrently(gateway: Gateway) -> None:
    """Ten pairs exchanging at once all get their frames, in order."""
    clients = [await RawClient.connect(gateway.ws_url) for _ in range(20)]
    senders, receivers = clients[:10], clients[10:]

    async def run(sender: RawClient, receiver: RawClient) -> None:
        sent = [sender.make("INTENT", receiver.did, {"query": str(i)}) for i in range(30)]
        for message in sent:
            await sender.send_text(message.to_json())
        assert [await receiver.recv_text() for _ in sent] == [m.to_json() for m in sent]
        assert set(await sender.expect_acks(len(sent))) == {m.id for m in sent}

    await asyncio.gather(*(run(s, r) for s, r in zip(senders, receivers, strict=True)))
    for client in clients:
        await client.close()


def _dids(gateway: Gateway) -> set[str]:
    return {agent["did"] for agent in gateway.agents()}
