"""Incoming frames that fail verification never reach user code; duplicates reach it once."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from support.client import RawClient
from support.gateway import GatewayProcess
from support.starter import StartGateway

from aiconexus import GatewayClient, Identity, Message, MessageType

from .conftest import fast_options


async def _next_offer(client: GatewayClient) -> Message:
    async with asyncio.timeout(5):
        return await client.recv()


async def test_forged_and_tampered_frames_are_dropped(
    start_memory_gateway: StartGateway, caplog: pytest.LogCaptureFixture
) -> None:
    """Through a gateway that does not verify, bad frames are dropped by the recipient."""
    gateway = start_memory_gateway(VERIFY_SIGNATURES="false")
    mallory, eve, bob = Identity.generate(), Identity.generate(), Identity.generate()
    connection = await RawClient.connect(gateway.ws_url, mallory)
    try:
        async with GatewayClient(gateway.ws_url, bob, **fast_options()) as b:
            # Claims to be from Mallory but is signed with Eve's key.
            forged = Message.create(mallory, MessageType.OFFER, bob.did, {"sdp": "1"}).to_dict()
            by_eve = Message.create(eve, MessageType.OFFER, bob.did, {"sdp": "1"})
            forged["signature"] = by_eve.to_dict()["signature"]
            # Correctly signed, then altered in transit.
            tampered = Message.create(mallory, MessageType.OFFER, bob.did, {"sdp": "2"}).to_dict()
            tampered["payload"]["sdp"] = "2-altered"
            genuine = Message.create(mallory, MessageType.OFFER, bob.did, {"sdp": "3"})
            with caplog.at_level(logging.WARNING, logger="aiconexus.client"):
                for frame in (forged, tampered):
                    await connection.send_text(Message.from_dict(frame).to_json())
                    await connection.expect(MessageType.ACK)
                await connection.send_text(genuine.to_json())
                received = await _next_offer(b)
            assert received.payload == {"sdp": "3"}, "only the genuine frame is handed over"
            drops = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
            assert len(drops) == 2
            assert all("failed verification" in text for text in drops)
    finally:
        await connection.close()


async def test_a_frame_resent_after_a_gateway_restart_reaches_user_code_once(
    tmp_path: Path,
) -> None:
    """The same signed frame routed twice (the restarted gateway forgot it) is handed over once."""
    gateway = GatewayProcess({"STORAGE_TYPE": "memory"}, tmp_path)
    gateway.start()
    sender, bob = Identity.generate(), Identity.generate()
    frame = Message.create(sender, MessageType.OFFER, bob.did, {"sdp": "once"})
    follow_up = Message.create(sender, MessageType.OFFER, bob.did, {"sdp": "next"})
    try:
        async with GatewayClient(gateway.ws_url, bob, **fast_options()) as b:
            connection = await RawClient.connect(gateway.ws_url, sender)
            await connection.send_text(frame.to_json())
            assert (await connection.expect(MessageType.ACK)).payload["status"] == "delivered"
            assert (await _next_offer(b)).id == frame.id
            gateway.kill()
            gateway.start()
            connection = await RawClient.connect(gateway.ws_url, sender)
            for message in (frame, follow_up):
                await connection.send_text(message.to_json())
                await connection.expect(MessageType.ACK)  # the new gateway routes the copy again
            assert (await _next_offer(b)).id == follow_up.id, "the copy was dropped"
            await connection.close()
    finally:
        gateway.stop()
