"""The client acknowledges what it takes in (recipient acknowledgements), coalesced."""

from __future__ import annotations

import asyncio

from support.client import RawClient

from aiconexus import GatewayClient, Identity, Message, MessageType
from aiconexus._receipts import Receipts
from aiconexus._session import Session

from .conftest import fast_options
from .gateway_process import GatewayProcess


async def test_the_client_acknowledges_a_burst_in_few_acks(gateway: GatewayProcess) -> None:
    """30 frames from a raw sender: all ``delivered`` once the client took them in."""
    alice = await RawClient.connect(gateway.url)
    bob = Identity.generate()
    async with GatewayClient(gateway.url, bob, **fast_options()) as b:
        sent = [alice.make("INTENT", bob.did, {"query": f"q{i}"}) for i in range(30)]
        for message in sent:
            await alice.send_text(message.to_json())
        acks = await alice.expect_acks(len(sent))
        assert set(acks.values()) == {"delivered"}
        async with asyncio.timeout(5):
            got = [await b.recv() for _ in sent]
        assert [m.id for m in got] == [m.id for m in sent]


async def test_a_redelivered_frame_is_dropped_and_acknowledged_again() -> None:
    """The same frame twice (as after a gateway crash): user code gets it once, both ACKed.

    Driven through the client's frame handler with a stand-in for the WebSocket that records
    what the client writes; both receipts go out in one coalesced ACK.
    """
    me, gateway, peer = Identity.generate(), Identity.generate(), Identity.generate()
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
    client = GatewayClient(session.url, me)
    client._receipts = Receipts(session, me)
    frame = Message.create(peer, MessageType.INTENT, me.did, {"query": "once"})
    client._handle(frame.to_json(), session)
    client._handle(frame.to_json(), session)
    await asyncio.sleep(0.05)
    assert client._inbox.qsize() == 1
    acks = [Message.parse(text) for text in written]
    assert len(acks) == 1 and acks[0].type == MessageType.ACK and acks[0].to == gateway.did
    assert acks[0].payload == {"status": "received", "ids": [frame.id, frame.id]}
    acks[0].verify()


async def test_opting_out_asks_for_nothing(gateway: GatewayProcess) -> None:
    """``recipient_acks=False``: no receipts (REGISTERED does not confirm them); frames arrive."""
    alice = await RawClient.connect(gateway.url)
    bob, carol = Identity.generate(), Identity.generate()
    async with (
        GatewayClient(gateway.url, bob, **fast_options(recipient_acks=False)) as b,
        GatewayClient(gateway.url, carol, **fast_options()) as c,
    ):
        assert b._last_session is not None and not b._last_session.recipient_acks
        assert c._last_session is not None and c._last_session.recipient_acks
        sent = await alice.send_message("OFFER", bob.did, {"sdp": "v=0"})
        assert await alice.expect_acks(1) == {sent.id: "delivered"}
        async with asyncio.timeout(5):
            assert (await b.recv()).id == sent.id
