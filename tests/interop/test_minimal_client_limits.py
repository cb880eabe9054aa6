"""The minimal client (PROTOCOL.md only) against the gateway's limits (PROTOCOL.md 8.6)."""

from __future__ import annotations

import asyncio
import contextlib
import json

from support.starter import StartGateway
from websockets.exceptions import ConnectionClosed

from interop.minimal_client import Keypair, MinimalClient


async def test_rate_limited_frame_passes_after_retry_after_ms(start_gateway: StartGateway) -> None:
    """Over the frame rate: ERROR RATE_LIMITED with retry_after_ms; the same frame passes later."""
    gateway = start_gateway(rate_limit_frames_per_s=2, rate_limit_burst_s=1)
    client = MinimalClient(Keypair())
    await client.connect(gateway.ws_url, ["limits"])
    for _ in range(2):
        await client.send("PING", client.gateway_did, {})
        _, pong = await client.receive()
        assert pong["type"] == "PONG"
    refused = await client.send("PING", client.gateway_did, {})
    _, error = await client.receive()
    assert error["type"] == "ERROR" and error["payload"]["code"] == "RATE_LIMITED"
    assert error["correlation_id"] == json.loads(refused)["id"]
    wait_ms = error["payload"]["details"]["retry_after_ms"]
    assert isinstance(wait_ms, int) and 1 <= wait_ms <= 1000
    await asyncio.sleep(wait_ms / 1000)
    await client.send_text(refused)  # same id: a refused frame does not use it up
    _, pong = await client.receive()
    assert pong["type"] == "PONG" and pong["correlation_id"] == json.loads(refused)["id"]
    await client.close()


async def test_a_streak_of_malformed_frames_closes_with_1008(start_gateway: StartGateway) -> None:
    """REFUSALS_BEFORE_CLOSE frames failing parsing in a row: close 1008 naming the code.

    ERRORs still queued when the gateway closes may be dropped; those that come are typed.
    """
    gateway = start_gateway(refusals_before_close=3)
    client = MinimalClient(Keypair())
    await client.connect(gateway.ws_url, ["limits"])
    for _ in range(3):
        await client.send_text('{"id":"x1","payload":' + "[" * 40 + "]" * 40 + "}")
    codes = []
    with contextlib.suppress(ConnectionClosed):
        while True:
            _, error = await client.receive()
            codes.append((error["payload"]["code"], error["correlation_id"]))
    assert codes == [("MALFORMED_MESSAGE", "x1")] * len(codes)
    assert client.close_code == 1008
