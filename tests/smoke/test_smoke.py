"""Smoke tests: the gateway process starts, the SDK connects, frames are acknowledged.

A small set, run by the main suite and by ``make test-lowest`` (scripts/ci/lowest-versions.sh)
against the lowest versions of the dependencies that the packages' pyproject files allow, so
that those lower bounds stay true. It uses only the public surface: the
``aiconexus-gateway`` console script, ``/health``, raw WebSocket frames and ``GatewayClient``.
Each test runs on the memory backend and on a real redis-server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.backends import backend_environment
from support.client import RawClient
from support.gateway import Gateway, GatewayProcess
from support.inprocess import InProcessGateway

from aiconexus import Backoff, ConnectionState, GatewayClient, Identity, MessageType

FAST: dict[str, Any] = {
    "backoff": Backoff(initial_delay=0.05, factor=2.0, max_delay=0.5),
    "open_timeout_s": 5.0,
}


@pytest.fixture(scope="module", params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def smoke_gateway(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    """A gateway process of the backend under test, shared by the module."""
    with backend_environment(request.param) as env:
        workdir = tmp_path_factory.mktemp(f"smoke-{request.param}")
        with GatewayProcess(env(), workdir) as process:
            yield process


def test_the_gateway_starts_and_answers_health(smoke_gateway: Gateway) -> None:
    """``/health`` answers 200 with the gateway's DID."""
    response = smoke_gateway.health()
    assert response.status_code == 200
    assert response.json()["did"].startswith("did:key:z6Mk")


async def test_the_handshake_over_raw_frames(smoke_gateway: Gateway) -> None:
    """CHALLENGE (signed, from the gateway's DID) -> REGISTER -> REGISTERED."""
    client = await RawClient.connect(smoke_gateway.ws_url)
    assert client.gateway_did == smoke_gateway.did
    assert client.registered is not None and client.registered.to == client.did
    await client.close()


async def test_the_sdk_sends_and_is_acknowledged(smoke_gateway: Gateway) -> None:
    """ACK delivered to a connected agent, ACK queued to an offline one, then delivered."""
    alice, bob, carol = Identity.generate(), Identity.generate(), Identity.generate()
    async with (
        GatewayClient(smoke_gateway.ws_url, alice, **FAST) as a,
        GatewayClient(smoke_gateway.ws_url, bob, **FAST) as b,
    ):
        assert await a.send(bob.did, MessageType.INTENT, {"query": "hello"}) == "delivered"
        async with asyncio.timeout(5):
            message = await b.recv()
        assert message.from_ == alice.did and message.payload == {"query": "hello"}
        assert await a.send(carol.did, MessageType.INTENT, {"query": "later"}) == "queued"
        async with GatewayClient(smoke_gateway.ws_url, carol, **FAST) as c:
            async with asyncio.timeout(5):
                stored = await c.recv()
            assert stored.payload == {"query": "later"}


async def test_the_sdk_reconnects_after_a_gateway_restart(smoke_gateway: Gateway) -> None:
    """The gateway stops and starts again on its port: the client reconnects and sends."""
    states: list[ConnectionState] = []
    reconnected = asyncio.Event()

    def watch(state: ConnectionState) -> None:
        states.append(state)
        if state is ConnectionState.CONNECTED and ConnectionState.RECONNECTING in states:
            reconnected.set()

    bob = Identity.generate()
    url = smoke_gateway.ws_url
    async with (
        GatewayClient(url, Identity.generate(), on_state_change=watch, **FAST) as a,
        GatewayClient(url, bob, **FAST),
    ):
        assert smoke_gateway.stop() == 0
        smoke_gateway.start()
        async with asyncio.timeout(10):
            await reconnected.wait()
        status = await a.send(bob.did, MessageType.INTENT, {"query": "again"})
        assert status in ("delivered", "queued")
    assert ConnectionState.RECONNECTING in states


@pytest.mark.parametrize("backend", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def test_the_gateway_starts_and_stops_cleanly(backend: str, tmp_path: Path) -> None:
    """Start-up, a session, shutdown (drain, backend closed): nothing logged as an error."""
    with backend_environment(backend) as env:
        gateway = InProcessGateway(env(), tmp_path).start()
        try:
            client = await RawClient.connect(gateway.ws_url)
            await client.send_message(MessageType.PING, gateway.did, {})
            await client.expect(MessageType.PONG)
        finally:
            assert await asyncio.to_thread(gateway.stop) == 0
        assert await client.closed() == 1001
        log = gateway.log()
        assert "Application shutdown complete" in log
        assert " ERROR " not in log and "Traceback" not in log, log
