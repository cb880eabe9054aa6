"""Incoming frames that fail verification never reach user code; duplicates reach it once."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from aiconexus import GatewayClient, Identity, Message, MessageType

from .conftest import fast_options
from .gateway_process import GatewayProcess
from .raw_client import frame_dict, raw_register, recv_message


async def _next_offer(client: GatewayClient) -> Message:
    async with asyncio.timeout(5):
        return await client.recv()


async def test_forged_and_tampered_frames_are_dropped(
    gateway_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Through a gateway that does not verify, bad frames are dropped by the recipient."""
    gateway = gateway_factory(VERIFY_SIGNATURES="false")
    mallory, eve, bob = Identity.generate(), Identity.generate(), Identity.generate()
    connection, _ = await raw_register(gateway.url, mallory)
    try:
        async with GatewayClient(gateway.url, bob, **fast_options()) as b:
            # Claims to be from Mallory but is signed with Eve's key.
            forged = frame_dict(Message.create(mallory, MessageType.OFFER, bob.did, {"sdp": "1"}))
            forged["signature"] = frame_dict(
                Message.create(eve, MessageType.OFFER, bob.did, {"sdp": "1"})
            )["signature"]
            # Correctly signed, then altered in transit.
            tampered = frame_dict(Message.create(mallory, MessageType.OFFER, bob.did, {"sdp": "2"}))
            tampered["payload"]["sdp"] = "2-altered"
            genuine = Message.create(mallory, MessageType.OFFER, bob.did, {"sdp": "3"})
            with caplog.at_level(logging.WARNING, logger="aiconexus.client"):
                for frame in (forged, tampered):
                    await connection.send(Message.from_dict(frame).to_json())
                    assert (await recv_message(connection)).type == MessageType.ACK
                await connection.send(genuine.to_json())
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
    gateway = GatewayProcess(tmp_path)
    gateway.start()
    sender, bob = Identity.generate(), Identity.generate()
    frame = Message.create(sender, MessageType.OFFER, bob.did, {"sdp": "once"})
    follow_up = Message.create(sender, MessageType.OFFER, bob.did, {"sdp": "next"})
    try:
        async with GatewayClient(gateway.url, bob, **fast_options()) as b:
            connection, _ = await raw_register(gateway.url, sender)
            await connection.send(frame.to_json())
            assert (await recv_message(connection)).payload["status"] == "delivered"
            assert (await _next_offer(b)).id == frame.id
            gateway.kill()
            gateway.start()
            connection, _ = await raw_register(gateway.url, sender)
            for message in (frame, follow_up):
                await connection.send(message.to_json())
                ack = await recv_message(connection)
                assert ack.type == MessageType.ACK, "the new gateway routes the copy again"
            assert (await _next_offer(b)).id == follow_up.id, "the copy was dropped"
            await connection.close()
    finally:
        gateway.stop()
