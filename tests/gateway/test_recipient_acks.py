"""Recipient acknowledgements: ``delivered`` only once the recipient said it took the frame in."""

from __future__ import annotations

import asyncio
import json
import signal
from typing import Any

import pytest
from support.client import RawClient, forge
from support.gateway import Gateway
from support.starter import StartGateway, StartGatewayProcess
from websockets.exceptions import ConnectionClosed

from aiconexus.protocol import Identity, Message


async def acking_client(url: str, identity: Identity | None = None, **options: Any) -> RawClient:
    """A raw client whose REGISTER asks for recipient acknowledgements."""
    client = await RawClient.open(url, identity, **options)
    await client.read_challenge()
    await client.register(recipient_acks=True)
    client.registered = await client.expect("REGISTERED")
    return client


async def acknowledge(client: RawClient, *ids: str) -> Message:
    """Send the recipient ACK of ``ids``."""
    assert client.gateway_did is not None
    return await client.send_message(
        "ACK", client.gateway_did, {"status": "received", "ids": list(ids)}
    )


async def test_delivered_waits_for_the_recipient_ack(gateway: Gateway) -> None:
    """The sender's ACK ``delivered`` follows the recipient's ACK, not the socket write."""
    alice = await RawClient.connect(gateway.ws_url)
    bob = await acking_client(gateway.ws_url)
    assert bob.registered is not None and bob.registered.payload["recipient_acks"] is True
    sent = await alice.send_message("OFFER", bob.did, {"sdp": "v=0"})
    assert await bob.recv_text() == sent.to_json()
    # Written to bob, not yet acknowledged: alice's next gateway frame is the PONG.
    ping = await alice.send_message("PING", alice.gateway_did, {"sequence": 1})
    pong = await alice.expect("PONG")
    assert pong.correlation_id == ping.id
    await acknowledge(bob, sent.id)
    assert await alice.expect_acks(1) == {sent.id: "delivered"}


async def test_a_client_without_the_option_keeps_delivered_on_write(
    gateway: Gateway,
) -> None:
    """No ``recipient_acks`` in REGISTER: no echo in REGISTERED, ACK delivered as before."""
    alice = await RawClient.connect(gateway.ws_url)
    bob = await RawClient.connect(gateway.ws_url)
    assert bob.registered is not None and "recipient_acks" not in bob.registered.payload
    sent = await alice.send_message("OFFER", bob.did, {"sdp": "v=0"})
    assert await alice.expect_acks(1) == {sent.id: "delivered"}
    assert await bob.recv_text() == sent.to_json()


@pytest.mark.parametrize(
    ("opted_in", "to_gateway", "payload", "code"),
    [
        (False, True, {"status": "received", "ids": ["a"]}, "UNAUTHORIZED"),
        (True, True, {"status": "delivered", "ids": ["a"]}, "UNAUTHORIZED"),
        (True, False, {"status": "received", "ids": ["a"]}, "UNAUTHORIZED"),
        (True, True, {"status": "received", "ids": []}, "MALFORMED_MESSAGE"),
        (True, True, {"status": "received", "ids": ["a"] * 257}, "MALFORMED_MESSAGE"),
        (True, True, {"status": "received", "ids": [7]}, "MALFORMED_MESSAGE"),
    ],
)
async def test_ack_from_an_agent_only_in_its_one_form(
    gateway: Gateway,
    opted_in: bool,
    to_gateway: bool,
    payload: dict[str, object],
    code: str,
) -> None:
    """Any other ACK from an agent is refused with a precise code; the session goes on."""
    client = await (acking_client if opted_in else RawClient.connect)(gateway.ws_url)
    other = Identity.generate().did
    frame = forge(
        client.identity, type="ACK", to=client.gateway_did if to_gateway else other, payload=payload
    )
    await client.send_text(frame)
    await client.expect_error(code, json.loads(frame)["id"])
    ping = await client.send_message("PING", client.gateway_did, {})
    assert (await client.expect("PONG")).correlation_id == ping.id


async def test_unacknowledged_frames_return_to_the_store_in_order(
    gateway: Gateway,
) -> None:
    """A session that ends with frames in flight: they are stored (ACK queued), then resent."""
    alice = await RawClient.connect(gateway.ws_url)
    bob_id = Identity.generate()
    bob = await acking_client(gateway.ws_url, bob_id)
    sent = [await alice.send_message("INTENT", bob_id.did, {"query": f"q{i}"}) for i in range(5)]
    got = [await bob.recv_text() for _ in sent]
    assert got == [m.to_json() for m in sent]
    await acknowledge(bob, sent[0].id, sent[1].id)
    assert await alice.expect_acks(2) == {sent[0].id: "delivered", sent[1].id: "delivered"}
    await bob.close()
    assert await alice.expect_acks(3) == {m.id: "queued" for m in sent[2:]}
    again = await acking_client(gateway.ws_url, bob_id)
    assert again.registered is not None and again.registered.payload["queued"] == 3
    assert [await again.recv_text() for _ in sent[2:]] == [m.to_json() for m in sent[2:]]
    await acknowledge(again, *(m.id for m in sent[2:]))
    # Stored frames were ACKed "queued" already: settling them answers nothing more.
    ping = await alice.send_message("PING", alice.gateway_did, {})
    assert (await alice.expect("PONG")).correlation_id == ping.id


async def test_window_bounds_frames_in_flight_and_silence_is_a_slow_consumer(
    start_gateway: StartGateway,
) -> None:
    """INFLIGHT_WINDOW=2: two frames go out; ACK_TIMEOUT without an ACK closes it 1013."""
    gw = start_gateway(inflight_window=2, ack_timeout=1)
    alice = await RawClient.connect(gw.ws_url)
    bob_id = Identity.generate()
    bob = await acking_client(gw.ws_url, bob_id)
    sent = [await alice.send_message("INTENT", bob_id.did, {"query": f"q{i}"}) for i in range(4)]
    received: list[str] = []
    with pytest.raises(ConnectionClosed):
        while True:
            received.append(await bob.recv_text(within=10))
    assert bob.close_code == 1013
    assert received == [m.to_json() for m in sent[:2]]
    assert await alice.expect_acks(4, within=10) == {m.id: "queued" for m in sent}
    gw.wait_for_log(f"disconnected reason='slow consumer' did={bob_id.did}")
    again = await acking_client(gw.ws_url, bob_id)
    assert [await again.recv_text() for _ in sent[:2]] == [m.to_json() for m in sent[:2]]


async def test_acks_keep_a_full_window_moving(start_gateway: StartGateway) -> None:
    """A recipient that acknowledges as it reads gets a stream far longer than its window."""
    gw = start_gateway(inflight_window=4, send_queue_size=64)
    alice = await RawClient.connect(gw.ws_url)
    bob = await acking_client(gw.ws_url)
    sent = [alice.make("INTENT", bob.did, {"query": f"q{i}"}) for i in range(60)]
    for message in sent:
        await alice.send_text(message.to_json())
    got: list[str] = []
    while len(got) < len(sent):
        text = await bob.recv_text()
        got.append(text)
        await acknowledge(bob, Message.parse(text).id)
    assert got == [m.to_json() for m in sent]
    acks = await alice.expect_acks(len(sent))
    assert set(acks.values()) == {"delivered"}


async def test_paused_reader_is_gone_and_its_frames_resolved_promptly(
    start_gateway: StartGateway,
) -> None:
    """A slow consumer whose socket stops reading: every frame is ACKed within seconds.

    CLOSE_TIMEOUT=1: the connection is aborted one second after the close was requested,
    so the frame being written goes back to the store (ACK queued) instead of waiting for
    the peer (or for the WebSocket ping timeout).
    """
    gw = start_gateway(send_queue_size=4, close_timeout=1, rate_limit_bytes_per_s=0)  # a burst
    alice = await RawClient.connect(gw.ws_url)
    bob = Identity.generate()
    stalled = await RawClient.connect(gw.ws_url, bob, max_queue=1)
    blob = "x" * 200_000
    sent = [alice.make("OFFER", bob.did, {"sdp": f"{i} {blob}"}) for i in range(100)]
    for message in sent:
        await alice.send_text(message.to_json())
    acks = await alice.expect_acks(len(sent), within=15)
    assert set(acks.values()) <= {"delivered", "queued"} and "queued" in acks.values()
    gw.wait_for_log(f"disconnected reason='slow consumer' did={bob.did}")
    stalled.ws.transport.abort()
    again = await RawClient.connect(gw.ws_url, bob)
    assert again.registered is not None
    queued = [m for m in sent if acks[m.id] == "queued"]
    assert again.registered.payload["queued"] == len(queued)
    assert [Message.parse(await again.recv_text()).id for _ in queued] == [m.id for m in queued]


async def test_sigterm_drains_in_flight_frames_then_closes_1001(
    start_gateway_process: StartGatewayProcess,
) -> None:
    """SIGTERM: queued frames are written and acknowledged first, then 1001 and exit 0."""
    gw = start_gateway_process(drain_timeout=10)
    alice = await RawClient.connect(gw.ws_url)
    bob = await acking_client(gw.ws_url)
    sent = [await alice.send_message("INTENT", bob.did, {"query": f"q{i}"}) for i in range(3)]
    got = [await bob.recv_text() for _ in sent]
    assert gw.process is not None
    gw.process.send_signal(signal.SIGTERM)
    await acknowledge(bob, *(Message.parse(t).id for t in got))
    assert await alice.expect_acks(3) == {m.id: "delivered" for m in sent}
    assert await alice.closed() == 1001
    assert await bob.closed() == 1001
    assert await asyncio.to_thread(gw.process.wait, 10) == 0
    line = gw.wait_for_log("drained sessions=2 ")
    assert "stored=0" in line


async def test_a_frame_to_oneself_needs_the_recipient_ack(gateway: Gateway) -> None:
    """PROTOCOL.md 8.8: a frame to one's own DID is in flight until acknowledged."""
    carol = await acking_client(gateway.ws_url)
    sent = await carol.send_message("OFFER", carol.did, {"sdp": "v=0"})
    assert await carol.recv_text() == sent.to_json()
    ping = await carol.send_message("PING", carol.gateway_did, {"sequence": 1})
    pong = await carol.expect("PONG")  # no ACK delivered before carol acknowledged
    assert pong.correlation_id == ping.id
    await acknowledge(carol, sent.id)
    assert await carol.expect_acks(1) == {sent.id: "delivered"}
    await carol.close()
