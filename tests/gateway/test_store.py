"""Offline store and forward: ACK queued, delivery after REGISTERED, bounds, age, storing off."""

from __future__ import annotations

import asyncio
import time

import pytest
from support.client import RawClient
from support.gateway import Gateway
from support.starter import StartGateway
from support.waiting import eventually

from aiconexus.protocol import Identity


async def test_frames_for_offline_agent_are_stored_then_delivered(gateway: Gateway) -> None:
    """ACK queued while offline; REGISTERED.queued = count, then the frames in order."""
    alice = await RawClient.connect(gateway.ws_url)
    bob = Identity.generate()
    sent = [await alice.send_message("INTENT", bob.did, {"query": str(i)}) for i in range(5)]
    assert await alice.expect_acks(len(sent)) == {m.id: "queued" for m in sent}
    receiver = await RawClient.connect(gateway.ws_url, bob)
    assert receiver.registered is not None
    assert receiver.registered.payload["queued"] == 5
    assert [await receiver.recv_text() for _ in sent] == [m.to_json() for m in sent]


async def test_stored_frames_come_before_live_ones(gateway: Gateway) -> None:
    """A sender that keeps sending while the recipient registers sees one unbroken order."""
    alice = await RawClient.connect(gateway.ws_url)
    bob = Identity.generate()
    sent = [alice.make("INTENT", bob.did, {"query": str(i)}) for i in range(300)]
    for message in sent[:100]:
        await alice.send_text(message.to_json())
    first = await alice.expect_acks(100)
    assert first == {m.id: "queued" for m in sent[:100]}

    async def keep_sending() -> None:
        for message in sent[100:]:
            await alice.send_text(message.to_json())
            await asyncio.sleep(0)

    sender = asyncio.create_task(keep_sending())
    receiver = await RawClient.connect(gateway.ws_url, bob)
    await sender
    received = [await receiver.recv_text() for _ in sent]
    assert received == [m.to_json() for m in sent]
    acks = await alice.expect_acks(len(sent) - 100)
    assert set(acks) == {m.id for m in sent[100:]}
    assert receiver.registered is not None
    assert receiver.registered.payload["queued"] >= 100


async def test_per_agent_bound_gives_queue_full(start_gateway: StartGateway) -> None:
    """STORE_MAX_PER_AGENT=3: the fourth frame for one offline agent gets QUEUE_FULL."""
    gw = start_gateway(store_max_per_agent=3)
    alice = await RawClient.connect(gw.ws_url)
    bob, carol = Identity.generate(), Identity.generate()
    for _ in range(3):
        await alice.send_message("OFFER", bob.did, {"sdp": "x"})
        assert (await alice.expect("ACK")).payload["status"] == "queued"
    fourth = await alice.send_message("OFFER", bob.did, {"sdp": "x"})
    await alice.expect_error("QUEUE_FULL", fourth.id)
    await alice.send_message("OFFER", carol.did, {"sdp": "x"})
    assert (await alice.expect("ACK")).payload["status"] == "queued"


async def test_total_bound_gives_queue_full(start_gateway: StartGateway) -> None:
    """STORE_MAX_TOTAL=2: a third stored frame, for anyone, gets QUEUE_FULL."""
    gw = start_gateway(store_max_total=2)
    alice = await RawClient.connect(gw.ws_url)
    for _ in range(2):
        await alice.send_message("OFFER", Identity.generate().did, {"sdp": "x"})
        assert (await alice.expect("ACK")).payload["status"] == "queued"
    third = await alice.send_message("OFFER", Identity.generate().did, {"sdp": "x"})
    await alice.expect_error("QUEUE_FULL", third.id)


async def test_storing_off_gives_unknown_agent(start_gateway: StartGateway) -> None:
    """STORE_MAX_PER_AGENT=0 turns storing off: UNKNOWN_AGENT for an offline recipient."""
    gw = start_gateway(store_max_per_agent=0)
    alice = await RawClient.connect(gw.ws_url)
    offer = await alice.send_message("OFFER", Identity.generate().did, {"sdp": "x"})
    await alice.expect_error("UNKNOWN_AGENT", offer.id)


async def test_a_frame_refused_as_queue_full_can_be_sent_again(
    start_gateway: StartGateway,
) -> None:
    """QUEUE_FULL does not use up the id: the same frame re-sent later is taken, no REPLAY."""
    gw = start_gateway(store_max_per_agent=1)
    alice = await RawClient.connect(gw.ws_url)
    bob = Identity.generate()
    first = await alice.send_message("OFFER", bob.did, {"sdp": "1"})
    assert (await alice.expect("ACK")).payload["status"] == "queued"
    refused = await alice.send_message("OFFER", bob.did, {"sdp": "2"})
    await alice.expect_error("QUEUE_FULL", refused.id)
    receiver = await RawClient.connect(gw.ws_url, bob)
    assert await receiver.recv_text() == first.to_json()
    await alice.send_text(refused.to_json())
    assert await receiver.recv_text() == refused.to_json()
    ack = await alice.expect("ACK")
    assert (ack.correlation_id, ack.payload["status"]) == (refused.id, "delivered")
    await alice.send_text(refused.to_json())
    await alice.expect_error("REPLAY_DETECTED", refused.id)


async def test_a_frame_refused_as_unknown_agent_can_be_sent_again(
    start_gateway: StartGateway,
) -> None:
    """UNKNOWN_AGENT (storing off) does not use up the id: re-sent once the agent is on."""
    gw = start_gateway(store_max_per_agent=0)
    alice = await RawClient.connect(gw.ws_url)
    bob = Identity.generate()
    refused = await alice.send_message("OFFER", bob.did, {"sdp": "x"})
    await alice.expect_error("UNKNOWN_AGENT", refused.id)
    receiver = await RawClient.connect(gw.ws_url, bob)
    await alice.send_text(refused.to_json())
    assert await receiver.recv_text() == refused.to_json()
    assert (await alice.expect("ACK")).payload["status"] == "delivered"


def _stored(gw: Gateway) -> int:
    for line in gw.get("/metrics").text.splitlines():
        if line.startswith("aiconexus_stored_frames{"):
            return int(float(line.rsplit(" ", 1)[1]))
    raise AssertionError("no aiconexus_stored_frames in /metrics")


async def test_old_frames_expire(start_gateway: StartGateway) -> None:
    """STORE_TTL=1: a frame stored more than a second ago is not delivered."""
    gw = start_gateway(store_ttl=1, cleanup_interval=0.2)
    alice = await RawClient.connect(gw.ws_url)
    bob = Identity.generate()
    await alice.send_message("OFFER", bob.did, {"sdp": "x"})
    await alice.expect("ACK")
    await asyncio.sleep(1.5)  # the age limit is the point of the test
    receiver = await RawClient.connect(gw.ws_url, bob)
    assert receiver.registered is not None
    assert receiver.registered.payload["queued"] == 0


async def test_cleanup_drops_expired_frames(start_gateway: StartGateway) -> None:
    """CLEANUP_INTERVAL: the store drops expired frames by itself (stored gauge -> 0)."""
    gw = start_gateway(store_ttl=1, cleanup_interval=0.2)
    if gw.health().json()["backend"] == "redis":
        pytest.skip("the periodic clean-up of one process (Redis expires on its own timer)")
    alice = await RawClient.connect(gw.ws_url)
    await alice.send_message("OFFER", Identity.generate().did, {"sdp": "x"})
    await alice.expect("ACK")
    stored_at = time.monotonic()
    assert _stored(gw) == 1
    await eventually(lambda: _stored(gw) == 0, within=5)
    assert time.monotonic() - stored_at >= 0.9
