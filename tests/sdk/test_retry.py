"""The retry policy: the default decisions, and a replaced policy changing what the client does."""

from __future__ import annotations

import asyncio

import pytest
from support.gateway import Gateway
from support.ports import free_port
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK, InvalidURI
from websockets.frames import Close

from aiconexus import (
    ClientClosedError,
    ClockSkewError,
    ConnectionState,
    GatewayClient,
    GatewayUnreachableError,
    Identity,
    InternalError,
    RateLimitedError,
    RetryPolicy,
    SessionReplacedError,
    UnauthorizedError,
    default_retry_policy,
)
from aiconexus.protocol import CloseCode
from aiconexus.retry import close_code

from .conftest import fast_options


def closed(code: int, reason: str = "") -> ConnectionClosedError:
    return ConnectionClosedError(Close(code, reason), None)


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (ConnectionRefusedError(), True),
        (TimeoutError(), True),
        (closed(1006), True),
        (closed(CloseCode.TRY_AGAIN_LATER, "CONNECTION_REFUSED: full"), True),
        (ConnectionClosedOK(Close(1001, "going away"), None), True),
        (InvalidURI("ws://x", "bad"), True),
        (ClientClosedError("closed"), True),
        (InternalError("boom"), True),
        (RateLimitedError("slow down"), True),
        (SessionReplacedError("replaced"), False),
        (UnauthorizedError("who are you"), False),
        (ClockSkewError("fix your clock"), False),
        (ValueError("a bug"), False),
    ],
)
def test_the_default_retries_network_trouble_not_refusals(
    error: BaseException, retried: bool
) -> None:
    """Drops and unreachable gateways are retried; close 4000 and lasting refusals are not."""
    assert default_retry_policy(error) is retried


def test_close_code_reads_the_code_the_gateway_sent() -> None:
    """From a close, from what a close caused, and None for anything else."""
    assert close_code(closed(1009)) == 1009
    replaced = SessionReplacedError("replaced")
    replaced.__cause__ = closed(CloseCode.REPLACED)
    assert close_code(replaced) == CloseCode.REPLACED
    assert close_code(ConnectionClosedError(None, None)) is None
    assert close_code(OSError()) is None


async def test_a_policy_that_refuses_ends_the_first_connect_with_its_error() -> None:
    """Nothing listening: the default collects the failure, a refusing policy raises it."""
    url = f"ws://127.0.0.1:{free_port()}/ws"
    asked: list[BaseException] = []

    def never(error: BaseException) -> bool:
        asked.append(error)
        return False

    with pytest.raises(GatewayUnreachableError):
        await GatewayClient(url, Identity.generate(), **fast_options()).connect()
    client = GatewayClient(url, Identity.generate(), retry_policy=never, **fast_options())
    with pytest.raises(OSError) as caught:
        await client.connect()
    assert asked == [caught.value]
    assert client.state is ConnectionState.CLOSED


async def test_a_policy_may_take_a_replaced_session_back(gateway: Gateway) -> None:
    """Retrying close 4000 (which the default does not): the other client is replaced instead."""
    identity = Identity.generate()
    asked: list[int | None] = []

    def stubborn(error: BaseException) -> bool:
        asked.append(close_code(error))
        return close_code(error) == CloseCode.REPLACED or default_retry_policy(error)

    policy: RetryPolicy = stubborn
    async with GatewayClient(
        gateway.ws_url, identity, retry_policy=policy, **fast_options()
    ) as first:
        second = GatewayClient(gateway.ws_url, identity, **fast_options())
        await second.connect()
        async with asyncio.timeout(5):
            reason = await second.wait_closed()
        assert isinstance(reason, SessionReplacedError)
        assert asked == [4000]
        assert await first.ping(timeout=5) > 0
        assert first.state is ConnectionState.CONNECTED
        await second.close()
