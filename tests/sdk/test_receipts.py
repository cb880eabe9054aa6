"""The client acknowledges what it takes in (recipient acknowledgements), coalesced."""

from __future__ import annotations

import asyncio

from support.client import RawClient
from support.gateway import Gateway

from aiconexus import GatewayClient, Identity, Message, MessageType
from aiconexus._receipts import Receipts
from aiconexus._session import Session

from .conftest import fast_options


async def test_the_client_acknowledges_a_burst_in_few_acks(gateway: Gateway) -> None:
    """30 frames from a raw sender: all ``delivered`` once the client took them in."""
    alice = await RawClient.connect(gateway.ws_url)
    bob = Identity.generate()
    async with GatewayClient(gateway.ws_url, bob, **fast_options()) as b:
        sent = [alice.make("INTENT", bob.did, {"query": f"q{i}"}) for i in range(30)]
        for message in sent:
            await alice.send_text(message.to_json())
        acks = await alice.expect_acks(len(sent))
        assert set(acks.values()) == {"delivered"}
        async with asyncio.timeout(5):
            got = [await b.recv() for _ in sent]
        assert [m.id for m in got] == [m.id for m in sent]


async def test_ids_noted_in_one_iteration_go_out_as_one_signed_ack() -> None:
    """Receipts noted together (a frame and its redelivered copy) leave in one ACK.

    Driven with a stand-in for the WebSocket that records what is written; which frames
    get a receipt is the dispatcher's decision (test_dispatch).
    """
    me, gateway = Identity.generate(), Identity.generate()
    written: list[str] = []

    class Wire:
        async def send(self, text: str) -> None:
            written.append(text)

    session = Session(
        url="ws://127.0.0.1:1/ws",
        connection=Wire(),  # type: ignore[arg-type]
        gateway_did=gateway.did,
        session_id="s",
        heartbeat_interval_s=15.0,
        queued=0,
        recipient_acks=True,
    )
    receipts = Receipts(session, me)
    receipts.note("frame-1")
    receipts.note("frame-1")
    await asyncio.sleep(0.05)
    acks = [Message.parse(text) for text in written]
    assert len(acks) == 1 and acks[0].type == MessageType.ACK and acks[0].to == gateway.did
    assert acks[0].payload == {"status": "received", "ids": ["frame-1", "frame-1"]}
    acks[0].verify()


async def test_opting_out_asks_for_nothing(gateway: Gateway) -> None:
    """``recipient_acks=False``: no receipts (REGISTERED does not confirm them); frames arrive."""
    alice = await RawClient.connect(gateway.ws_url)
    bob, carol = Identity.generate(), Identity.generate()
    async with (
        GatewayClient(gateway.ws_url, bob, **fast_options(recipient_acks=False)) as b,
        GatewayClient(gateway.ws_url, carol, **fast_options()) as c,
    ):
        b_session, c_session = b._connection.last_session, c._connection.last_session
        assert b_session is not None and not b_session.recipient_acks
        assert c_session is not None and c_session.recipient_acks
        sent = await alice.send_message("OFFER", bob.did, {"sdp": "v=0"})
        assert await alice.expect_acks(1) == {sent.id: "delivered"}
        async with asyncio.timeout(5):
            assert (await b.recv()).id == sent.id
