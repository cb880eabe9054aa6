"""Refusals of frames whose signature was never verified are budgeted and make up a streak.

An agent that did not ask for recipient acknowledgements can still send ACKs to the gateway;
they are refused UNAUTHORIZED before their signature is looked at. Such refusals cost the
gateway a signed ERROR each, so they count against ERRORS_PER_S and REFUSALS_BEFORE_CLOSE
like any frame that failed parsing or verification.
"""

from __future__ import annotations

import asyncio
import time

from support.client import RawClient, forge
from support.starter import StartGateway
from websockets.exceptions import ConnectionClosed

from aiconexus.protocol import b64url_encode

GARBAGE = b64url_encode(b"\x01" * 64)
FLOOD = 400


def _garbage_acks(client: RawClient, count: int) -> list[str]:
    assert client.gateway_did is not None
    payload = {"status": "received", "ids": ["x"]}
    return [
        forge(
            client.identity, type="ACK", to=client.gateway_did, payload=payload, signature=GARBAGE
        )
        for _ in range(count)
    ]


async def _errors_until_closed(client: RawClient, within: float) -> tuple[int, int | None]:
    """ERROR frames read until the connection closes or ``within`` seconds pass."""
    errors = 0
    try:
        async with asyncio.timeout(within):
            while True:
                if '"type":"ERROR"' in await client.ws.recv():
                    errors += 1
    except (ConnectionClosed, TimeoutError):
        pass
    return errors, client.close_code


async def test_forged_acks_without_opt_in_are_closed_by_the_streak(
    start_gateway: StartGateway,
) -> None:
    """ACKs with garbage signatures from a client that did not opt in: closed 1008."""
    gateway = start_gateway(errors_per_s=5, refusals_before_close=32)
    client = await RawClient.connect(gateway.ws_url)
    for frame in _garbage_acks(client, FLOOD):
        try:
            await client.send_text(frame)
        except ConnectionClosed:
            break
    errors, code = await _errors_until_closed(client, within=10)
    assert code == 1008
    assert client.close_reason.startswith("UNAUTHORIZED"), client.close_reason
    assert errors <= 10, errors


async def test_forged_acks_get_at_most_errors_per_s_answers(start_gateway: StartGateway) -> None:
    """With no streak limit, the same flood gets about ERRORS_PER_S answers a second.

    A PING after the flood is answered after every ERROR the flood got (one queue, in order).
    """
    gateway = start_gateway(errors_per_s=5, refusals_before_close=0)
    client = await RawClient.connect(gateway.ws_url)
    for frame in _garbage_acks(client, FLOOD):
        await client.send_text(frame)
    started = time.monotonic()
    await client.send_message("PING", client.gateway_did, {})
    errors = 0
    while (await client.recv()).type != "PONG":
        errors += 1
    allowed = 5 + 5 * (time.monotonic() - started) + 5  # the burst, its refill, some slack
    assert 1 <= errors <= allowed, errors
    assert client.close_code is None
