"""Bounds of the offline store in bytes and per sender, and recipients never seen registered.

Run against every backend. Frames carry a 2,000-character payload, so one frame is ~2.4 kB
and a bound of ``2.5 * size`` holds exactly two of them.
"""

from __future__ import annotations

from typing import Any

from support.client import RawClient
from support.gateway import Gateway
from support.starter import StartGateway
from support.waiting import eventually

from aiconexus.protocol import Identity, Message

PAYLOAD = {"sdp": "v" * 2000}


def _size(message: Message) -> int:
    return len(message.to_json().encode())


def _two_and_a_half() -> int:
    """A byte bound that holds two frames of this test and not three."""
    sample = Message.create(Identity.generate(), "OFFER", Identity.generate().did, PAYLOAD)
    return int(2.5 * _size(sample))


async def _queued(client: RawClient, to: str) -> Message:
    message = await client.send_message("OFFER", to, PAYLOAD)
    ack = await client.expect("ACK")
    assert (ack.correlation_id, ack.payload["status"]) == (message.id, "queued")
    return message


async def _offer_refused(client: RawClient, to: str, code: str) -> str:
    """Send an OFFER that must be refused with ERROR ``code``; the ERROR's message."""
    error = await client.refused(client.make("OFFER", to, PAYLOAD), code)
    return str(error.payload["message"])


async def _start(start_gateway: StartGateway, **settings: Any) -> tuple[Gateway, RawClient]:
    gw = start_gateway(**settings)
    return gw, await RawClient.connect(gw.ws_url)


async def test_bytes_per_agent_bound(start_gateway: StartGateway) -> None:
    """STORE_MAX_BYTES_PER_AGENT: QUEUE_FULL for that recipient only; draining frees it."""
    gw, alice = await _start(start_gateway, store_max_bytes_per_agent=_two_and_a_half())
    bob, carol = Identity.generate(), Identity.generate()
    kept = [await _queued(alice, bob.did) for _ in range(2)]
    await _offer_refused(alice, bob.did, "QUEUE_FULL")
    await _queued(alice, carol.did)
    receiver = await RawClient.connect(gw.ws_url, bob)
    assert [await receiver.recv_text() for _ in kept] == [m.to_json() for m in kept]
    await receiver.close()
    await eventually(lambda: bob.did not in gw.get("/agents").text)
    await _queued(alice, bob.did)


async def test_sender_is_refused_before_the_store_is_full(start_gateway: StartGateway) -> None:
    """STORE_MAX_BYTES_PER_SENDER < STORE_MAX_BYTES_TOTAL: the filler is refused, not others."""
    two = _two_and_a_half()
    gw, alice = await _start(
        start_gateway, store_max_bytes_per_sender=two, store_max_bytes_total=two + two // 2
    )
    carol = await RawClient.connect(gw.ws_url)
    for _ in range(2):
        await _queued(alice, Identity.generate().did)
    assert "sender" in await _offer_refused(alice, Identity.generate().did, "QUEUE_FULL")
    await _queued(carol, Identity.generate().did)  # the third frame: the total bound is reached
    assert "sender" not in await _offer_refused(carol, Identity.generate().did, "QUEUE_FULL")


async def test_frames_per_sender_bound(start_gateway: StartGateway) -> None:
    """STORE_MAX_PER_SENDER=2: the third stored frame of one sender is QUEUE_FULL."""
    gw, alice = await _start(start_gateway, store_max_per_sender=2)
    carol = await RawClient.connect(gw.ws_url)
    bob = Identity.generate()
    await _queued(alice, bob.did)
    await _queued(alice, Identity.generate().did)
    assert "sender" in await _offer_refused(alice, bob.did, "QUEUE_FULL")
    await _queued(carol, bob.did)


async def test_unseen_recipients_share_a_bound(start_gateway: StartGateway) -> None:
    """STORE_MAX_BYTES_UNSEEN: UNKNOWN_AGENT past it; an agent that registered still gets frames.

    STORE_SEEN_MAX=1: only the last agent that registered is remembered.
    """
    one = _two_and_a_half() // 2
    gw, alice = await _start(start_gateway, store_max_bytes_unseen=one, store_seen_max=1)
    await _queued(alice, Identity.generate().did)
    await _offer_refused(alice, Identity.generate().did, "UNKNOWN_AGENT")
    dave, erin = Identity.generate(), Identity.generate()
    for agent in (dave, erin):
        client = await RawClient.connect(gw.ws_url, agent)
        await client.close()

        def gone(did: str = agent.did) -> bool:
            return did not in gw.get("/agents").text

        await eventually(gone)
    await _queued(alice, erin.did)
    await _offer_refused(alice, dave.did, "UNKNOWN_AGENT")  # forgotten: erin registered after it
