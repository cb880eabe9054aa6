"""The SDK against the gateway's limits: refused frames fail once, RATE_LIMITED waits and re-sends."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from support.starter import StartGateway

from aiconexus import GatewayClient, Identity
from aiconexus.protocol import MalformedMessageError, MessageTooLargeError

from .conftest import fast_options


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


async def test_too_deep_a_payload_fails_before_it_is_written(
    start_memory_gateway: StartGateway,
) -> None:
    """A payload nested past the protocol's depth raises MalformedMessageError; the next send works."""
    gateway = start_memory_gateway()
    async with (
        GatewayClient(gateway.ws_url, Identity.generate(), **fast_options()) as alice,
        GatewayClient(gateway.ws_url, Identity.generate(), **fast_options()) as bob,
    ):
        with pytest.raises(MalformedMessageError):
            await alice.send(
                bob.did, "INTENT", {"query": "x", "params": {"deep": _nested(300)}}, timeout=5
            )
        assert alice.unacknowledged == 0
        assert await alice.send(bob.did, "INTENT", {"query": "ok"}, timeout=5) == "delivered"


async def test_refused_frames_fail_once_and_later_sends_go_on(
    start_memory_gateway: StartGateway,
) -> None:
    """MESSAGE_TOO_LARGE (ERROR, or close 1009 for a huge frame) fails that send only.

    The gateway's limit is below the client's: the frame is never written again, and the
    sends after it are acknowledged.
    """
    gateway = start_memory_gateway(MAX_MESSAGE_SIZE="2048")
    options = fast_options(max_message_size=1_000_000)
    async with (
        GatewayClient(gateway.ws_url, Identity.generate(), **options) as alice,
        GatewayClient(gateway.ws_url, Identity.generate(), **options) as bob,
    ):
        with pytest.raises(MessageTooLargeError):
            await alice.send(bob.did, "INTENT", {"query": "x" * 4000}, timeout=5)
        with pytest.raises(MessageTooLargeError):
            await alice.send(bob.did, "INTENT", {"query": "x" * 50_000}, timeout=10)
        assert await alice.send(bob.did, "INTENT", {"query": "ok"}, timeout=10) == "delivered"
        assert alice.unacknowledged == 0


async def test_rate_limited_sends_wait_and_are_sent_again(
    start_memory_gateway: StartGateway,
) -> None:
    """RATE_LIMITED with retry_after_ms: the client waits and re-sends; every send() succeeds.

    The gateway answers at most 2 refusals a second (ERRORS_PER_S): most refused frames get
    no ERROR at all. The client re-sends after a hold with a small window that grows with
    each ACK, and re-sends what stays unanswered while nothing else is answered, under the
    same id: no send waits forever, and the recipient gets each frame once.
    """
    gateway = start_memory_gateway(
        RATE_LIMIT_FRAMES_PER_S="20", RATE_LIMIT_BURST_S="0.25", ERRORS_PER_S="2"
    )
    async with (
        GatewayClient(gateway.ws_url, Identity.generate(), **fast_options()) as alice,
        GatewayClient(gateway.ws_url, Identity.generate(), **fast_options()) as bob,
    ):
        started = time.monotonic()
        statuses = await asyncio.wait_for(
            asyncio.gather(*(alice.send(bob.did, "INTENT", {"query": f"n{i}"}) for i in range(30))),
            15,
        )
        elapsed = time.monotonic() - started
        assert statuses == ["delivered"] * 30
        assert elapsed >= 0.8  # 30 frames at 20/s after a burst of 5 cannot be faster
        assert alice.unacknowledged == 0
        received = [(await bob.recv()).payload["query"] for _ in range(30)]
        assert sorted(received) == sorted(f"n{i}" for i in range(30))
        with pytest.raises(TimeoutError):  # and nothing twice
            await asyncio.wait_for(bob.recv(), 0.3)
