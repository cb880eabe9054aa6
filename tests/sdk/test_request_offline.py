"""request() to a recipient that is not connected: a distinct timeout, or failing fast."""

from __future__ import annotations

import asyncio

import pytest
from support.gateway import Gateway

from aiconexus import (
    GatewayClient,
    Identity,
    MessageType,
    RecipientOfflineError,
    RecipientOfflineTimeout,
)

from .conftest import fast_options


async def test_a_queued_request_times_out_as_recipient_offline(gateway: Gateway) -> None:
    """The gateway queued it: the TimeoutError is a RecipientOfflineTimeout naming the DID."""
    offline = Identity.generate()
    async with GatewayClient(gateway.ws_url, Identity.generate(), **fast_options()) as client:
        with pytest.raises(RecipientOfflineTimeout) as caught:
            await client.request(offline.did, {"x": 1}, timeout=0.5)
    assert isinstance(caught.value, TimeoutError)
    assert caught.value.recipient == offline.did
    assert "is not connected" in str(caught.value)


async def test_a_silent_connected_peer_is_a_plain_timeout(gateway: Gateway) -> None:
    """Delivered but unanswered: TimeoutError, not RecipientOfflineError."""
    async with (
        GatewayClient(gateway.ws_url, Identity.generate(), **fast_options()) as silent,
        GatewayClient(gateway.ws_url, Identity.generate(), **fast_options()) as client,
    ):
        with pytest.raises(TimeoutError) as caught:
            await client.request(silent.did, {}, timeout=0.3)
    assert not isinstance(caught.value, RecipientOfflineError)


async def test_if_offline_fail_raises_at_the_queued_ack(gateway: Gateway) -> None:
    """if_offline="fail" raises as soon as the ACK says queued, long before the timeout."""
    offline = Identity.generate()
    async with GatewayClient(gateway.ws_url, Identity.generate(), **fast_options()) as client:
        async with asyncio.timeout(5):
            with pytest.raises(RecipientOfflineError) as caught:
                await client.request(offline.did, {"x": 1}, timeout=60, if_offline="fail")
        assert not isinstance(caught.value, TimeoutError)
        assert caught.value.request.type == MessageType.EXEC_REQUEST
        with pytest.raises(ValueError, match="if_offline"):
            await client.request(offline.did, {}, if_offline="later")  # type: ignore[arg-type]
    # The request stays in the gateway's store: the recipient gets it when it connects.
    async with GatewayClient(gateway.ws_url, offline, **fast_options()) as late:
        async with asyncio.timeout(5):
            stored = await late.recv()
    assert stored.id == caught.value.request.id
