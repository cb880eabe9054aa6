"""GatewayClient against a real gateway: ACKs, typed errors, requests, directory, states."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from support.gateway import Gateway
from support.ports import free_port
from support.starter import StartGateway

from aiconexus import (
    Agent,
    ClientClosedError,
    ConnectionRefusedByPeerError,
    ConnectionState,
    GatewayAuthenticationError,
    GatewayClient,
    GatewayUnreachableError,
    Identity,
    Message,
    MessageTooLargeError,
    MessageType,
    QueueFullError,
    RemoteExecutionError,
    SessionReplacedError,
    UnknownAgentError,
)

from .conftest import fast_options


async def test_send_is_delivered_to_a_connected_agent(gateway: Gateway) -> None:
    """ACK delivered, and the recipient reads the verified message."""
    alice, bob = Identity.generate(), Identity.generate()
    async with (
        GatewayClient(gateway.ws_url, alice, **fast_options()) as a,
        GatewayClient(gateway.ws_url, bob, **fast_options()) as b,
    ):
        assert await a.send(bob.did, "OFFER", {"sdp": "v=0 hello"}) == "delivered"
        async with asyncio.timeout(5):
            message = await b.recv()
        assert message.type == MessageType.OFFER
        assert message.from_ == alice.did
        assert message.payload == {"sdp": "v=0 hello"}
        assert a.unacknowledged == 0


async def test_send_to_an_offline_agent_is_queued_then_delivered(gateway: Gateway) -> None:
    """ACK queued; the stored frame arrives when the recipient registers."""
    alice, carol = Identity.generate(), Identity.generate()
    async with GatewayClient(gateway.ws_url, alice, **fast_options()) as a:
        assert await a.send(carol.did, "ICE_CANDIDATE", {"candidate": "c1"}) == "queued"
        async with GatewayClient(gateway.ws_url, carol, **fast_options()) as c:
            async with asyncio.timeout(5):
                message = await c.recv()
            assert message.payload["candidate"] == "c1"
            assert message.from_ == alice.did


async def test_store_off_raises_unknown_agent(start_memory_gateway: StartGateway) -> None:
    """With storing off, a send to an offline DID raises UnknownAgentError."""
    gateway = start_memory_gateway(STORE_MAX_PER_AGENT="0")
    async with GatewayClient(gateway.ws_url, Identity.generate(), **fast_options()) as a:
        with pytest.raises(UnknownAgentError) as caught:
            await a.send(Identity.generate().did, "OFFER", {"sdp": "x"})
        assert caught.value.code == "UNKNOWN_AGENT"
        assert a.unacknowledged == 0


async def test_full_store_raises_queue_full(start_memory_gateway: StartGateway) -> None:
    """Past STORE_MAX_PER_AGENT a send raises QueueFullError."""
    gateway = start_memory_gateway(STORE_MAX_PER_AGENT="2")
    offline = Identity.generate().did
    async with GatewayClient(gateway.ws_url, Identity.generate(), **fast_options()) as a:
        assert await a.send(offline, "OFFER", {"sdp": "1"}) == "queued"
        assert await a.send(offline, "OFFER", {"sdp": "2"}) == "queued"
        with pytest.raises(QueueFullError):
            await a.send(offline, "OFFER", {"sdp": "3"})


async def test_bad_arguments_fail_before_anything_is_sent(gateway: Gateway) -> None:
    """Bad DIDs, client-only types and oversized frames are refused locally."""
    async with GatewayClient(gateway.ws_url, Identity.generate(), **fast_options()) as a:
        with pytest.raises(ValueError):
            await a.send("did:key:nonsense", "OFFER", {"sdp": "x"})
        with pytest.raises(ValueError):
            await a.send(Identity.generate().did, "REGISTER", {"nonce": "n"})
        with pytest.raises(MessageTooLargeError):
            await a.send(Identity.generate().did, "OFFER", {"sdp": "x" * 300_000})


async def test_request_returns_the_response(gateway: Gateway) -> None:
    """request() correlates the EXEC_RESPONSE to its EXEC_REQUEST."""
    agent = Agent(Identity.generate(), capabilities=["echo"], **fast_options())

    @agent.on("EXEC_REQUEST")
    async def echo(msg: Message) -> dict[str, Any]:
        return {"echo": msg.payload["args"]}

    async with (
        agent.connect(gateway.ws_url),
        GatewayClient(gateway.ws_url, Identity.generate(), **fast_options()) as client,
    ):
        replies = await asyncio.gather(
            *(client.request(agent.did, {"n": n}, timeout=5) for n in range(10))
        )
    assert [r.payload["result"] for r in replies] == [{"echo": {"n": n}} for n in range(10)]
    assert all(r.type == MessageType.EXEC_RESPONSE for r in replies)


async def test_a_raising_handler_becomes_a_remote_error(gateway: Gateway) -> None:
    """The requester gets RemoteExecutionError with the message only, no traceback."""
    agent = Agent(Identity.generate(), **fast_options())

    @agent.on("EXEC_REQUEST")
    async def broken(msg: Message) -> dict[str, Any]:
        raise RuntimeError("the model is unavailable")

    async with (
        agent.connect(gateway.ws_url),
        GatewayClient(gateway.ws_url, Identity.generate(), **fast_options()) as client,
    ):
        with pytest.raises(RemoteExecutionError) as caught:
            await client.request(agent.did, {}, timeout=5)
    assert caught.value.error == "the model is unavailable"
    assert "Traceback" not in str(caught.value.response.payload)


async def test_request_times_out_with_builtin_timeout_error(gateway: Gateway) -> None:
    """A peer that never answers makes request() raise TimeoutError after `timeout`."""
    async with (
        GatewayClient(gateway.ws_url, Identity.generate(), **fast_options()) as silent,
        GatewayClient(gateway.ws_url, Identity.generate(), **fast_options()) as client,
    ):
        with pytest.raises(TimeoutError):
            await client.request(silent.did, {"x": 1}, timeout=0.5)
        async with asyncio.timeout(5):
            unanswered = await silent.recv()
        assert unanswered.type == MessageType.EXEC_REQUEST


async def test_list_agents_filters_by_capability(gateway: Gateway) -> None:
    """list_agents() shows registered agents with their capabilities and metadata."""
    translator, other = Identity.generate(), Identity.generate()
    async with (
        GatewayClient(
            gateway.ws_url, translator, capabilities=["translate"], metadata={"name": "t"}
        ) as client,
        GatewayClient(gateway.ws_url, other, capabilities=["summarize"]),
    ):
        everyone = await client.list_agents()
        translators = await client.list_agents(capability="translate")
    assert {a.did for a in everyone} >= {translator.did, other.did}
    assert [a.did for a in translators] == [translator.did]
    assert translators[0].metadata == {"name": "t"}
    assert translators[0].capabilities == ("translate",)


async def test_ping_the_gateway_and_an_agent(gateway: Gateway) -> None:
    """ping() measures a round trip to the gateway, and to an Agent (automatic PONG)."""
    agent = Agent(Identity.generate(), **fast_options())
    async with (
        agent.connect(gateway.ws_url),
        GatewayClient(gateway.ws_url, Identity.generate(), **fast_options()) as client,
    ):
        assert await client.ping(timeout=5) > 0
        assert await client.ping(agent.did, timeout=5) > 0
        assert client.gateway_did == gateway.did


async def test_states_are_reported_in_order(gateway: Gateway) -> None:
    """A listener sees CONNECTING, CONNECTED, then CLOSED."""
    seen: list[ConnectionState] = []
    client = GatewayClient(gateway.ws_url, Identity.generate(), on_state_change=seen.append)
    assert client.state is ConnectionState.CLOSED
    async with client:
        assert client.state is ConnectionState.CONNECTED
    assert seen == [ConnectionState.CONNECTING, ConnectionState.CONNECTED, ConnectionState.CLOSED]
    with pytest.raises(ClientClosedError):
        await client.send(Identity.generate().did, "OFFER", {"sdp": "x"})


async def test_unreachable_gateway_raises_a_clear_error() -> None:
    """Nothing listening: GatewayUnreachableError naming the URL (also a ConnectionError)."""
    url = f"ws://127.0.0.1:{free_port()}/ws"
    client = GatewayClient(url, Identity.generate(), **fast_options())
    with pytest.raises(GatewayUnreachableError) as caught:
        await client.connect()
    assert isinstance(caught.value, ConnectionError)
    assert url in str(caught.value)
    assert client.state is ConnectionState.CLOSED


async def test_a_full_gateway_refuses_with_connection_refused(
    start_memory_gateway: StartGateway,
) -> None:
    """At MAX_CONNECTIONS the close 1013 "CONNECTION_REFUSED: ..." becomes that typed error."""
    gateway = start_memory_gateway(MAX_CONNECTIONS="1")
    async with GatewayClient(gateway.ws_url, Identity.generate(), **fast_options()):
        late = GatewayClient(gateway.ws_url, Identity.generate(), **fast_options())
        with pytest.raises(GatewayUnreachableError) as caught:
            await late.connect()
    [(_, failure)] = caught.value.failures
    assert isinstance(failure, ConnectionRefusedByPeerError)
    assert failure.code == "CONNECTION_REFUSED"
    assert "MAX_CONNECTIONS" in failure.message


async def test_a_pinned_gateway_did_is_enforced(gateway: Gateway) -> None:
    """The right pin connects; a wrong one raises GatewayAuthenticationError."""
    async with GatewayClient(gateway.ws_url, Identity.generate(), gateway_did=gateway.did) as ok:
        assert ok.gateway_did == gateway.did
    wrong = GatewayClient(gateway.ws_url, Identity.generate(), gateway_did=Identity.generate().did)
    with pytest.raises(GatewayAuthenticationError):
        await wrong.connect()


async def test_a_second_session_of_the_same_did_replaces_the_first(
    gateway: Gateway,
) -> None:
    """The replaced client closes with SessionReplacedError and does not fight back."""
    identity = Identity.generate()
    first = GatewayClient(gateway.ws_url, identity, **fast_options())
    await first.connect()
    async with GatewayClient(gateway.ws_url, identity, **fast_options()) as second:
        async with asyncio.timeout(5):
            reason = await first.wait_closed()
        assert isinstance(reason, SessionReplacedError)
        assert first.state is ConnectionState.CLOSED
        assert await second.ping(timeout=5) > 0
    await first.close()


async def test_iteration_ends_when_the_client_closes(gateway: Gateway) -> None:
    """`async for` yields received messages and stops after close()."""
    alice, bob = Identity.generate(), Identity.generate()
    async with GatewayClient(gateway.ws_url, alice, **fast_options()) as a:
        b = GatewayClient(gateway.ws_url, bob, **fast_options())
        await b.connect()
        for n in range(3):
            await a.send(bob.did, "OFFER", {"sdp": str(n)})
        received = []
        async with asyncio.timeout(5):
            async for message in b:
                received.append(message.payload["sdp"])
                if len(received) == 3:
                    await b.close()
    assert received == ["0", "1", "2"]


async def test_async_state_listeners_are_awaited_and_a_failing_one_is_skipped(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    """A coroutine listener sees every state; one that raises is logged and the others go on."""
    seen: list[ConnectionState] = []
    done = asyncio.Event()

    async def record(state: ConnectionState) -> None:
        seen.append(state)
        if state is ConnectionState.CLOSED:
            done.set()

    def fail(state: ConnectionState) -> None:
        raise RuntimeError(f"listener failed at {state}")

    client = GatewayClient(gateway.ws_url, Identity.generate(), on_state_change=fail)
    client.add_state_listener(record)
    async with client:
        pass
    async with asyncio.timeout(5):
        await done.wait()
    assert seen == [ConnectionState.CONNECTING, ConnectionState.CONNECTED, ConnectionState.CLOSED]
    failures = [r for r in caplog.records if r.getMessage().startswith("state listener")]
    assert len(failures) == 3 and all(r.exc_info for r in failures)
