"""The ``/ws`` connection handler driven over plain ASGI (queues, no socket, no server).

Each test runs the real application (``create_app``: hub, router, sessions, backend) in the
test's loop through its ASGI lifespan, and plays the WebSocket peer by putting ASGI events
on a queue and reading what the application sends (see support.asgi). What a socket would
hide is visible here: the accept message, each close code and reason, the scope extension
for batched sends, and the hub's counters once a connection ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from support.asgi import AsgiGateway, asgi_gateway

from aiconexus.protocol import ErrorCode, Identity, Message, MessageType
from aiconexus_gateway.settings import Settings

CLOSE_POLICY = 1008
CLOSE_TRY_LATER = 1013


def _settings(**changes: Any) -> Settings:
    return Settings(gateway_crypto_threads=0).replace(**changes)


@pytest.fixture
async def asgi() -> AsyncIterator[AsgiGateway]:
    """The application with default settings (memory backend), started and stopped."""
    async with asgi_gateway(_settings()) as started:
        yield started


# handshake -------------------------------------------------------------------------------------


async def test_accept_names_the_subprotocol_only_when_offered(asgi: AsgiGateway) -> None:
    """``ioap.v1`` offered: accepted with it; nothing offered: accepted without one."""
    offered = await asgi.open()
    assert (await offered.accept())["subprotocol"] == "ioap.v1"
    plain = await asgi.open(subprotocols=())
    assert (await plain.accept())["subprotocol"] is None
    assert (await plain.read_challenge()).to is None


async def test_challenge_then_register_answers_registered(asgi: AsgiGateway) -> None:
    """The CHALLENGE is signed by the gateway; REGISTERED names the agent; the hub counts it."""
    alice = await asgi.register(capabilities=["search"])
    assert alice.gateway_did == asgi.app.hub.did
    assert asgi.app.hub.connections == 1
    assert alice.did in asgi.app.hub.sessions
    await alice.disconnect()
    assert asgi.app.hub.connections == 0
    assert alice.did not in asgi.app.hub.sessions


async def test_an_event_other_than_connect_ends_the_call_quietly(asgi: AsgiGateway) -> None:
    """A peer gone before ``websocket.connect``: the handler returns having sent nothing."""
    conn = await asgi.open()
    await conn.incoming.put({"type": "websocket.disconnect", "code": 1006})
    await asyncio.wait_for(conn.task, 5)
    assert conn.outgoing.empty()
    assert asgi.app.hub.connections == 0


async def test_other_paths_are_closed_1008(asgi: AsgiGateway) -> None:
    """Only ``/ws`` is a WebSocket endpoint."""
    conn = await asgi.open(path="/other")
    assert (await conn.close_event())["code"] == CLOSE_POLICY


async def test_a_peer_gone_before_register_is_let_go(asgi: AsgiGateway) -> None:
    """Disconnect after the CHALLENGE: no session, the counters are back to zero."""
    conn = await asgi.open()
    await conn.accept()
    await conn.read_challenge()
    await conn.disconnect(1001)
    assert asgi.app.hub.connections == 0
    assert asgi.app.ip_limits.tcp_pending == 0


async def test_binary_register_is_refused_without_an_error_frame(asgi: AsgiGateway) -> None:
    """No sender is known: close 1008 whose reason carries MALFORMED_MESSAGE."""
    conn = await asgi.open()
    await conn.accept()
    await conn.read_challenge()
    await conn.send_bytes(b"\x00\x01")
    close = await conn.close_event()
    assert close["code"] == CLOSE_POLICY
    assert close["reason"].startswith("MALFORMED_MESSAGE:")


async def test_register_with_a_wrong_nonce_gets_error_then_close(asgi: AsgiGateway) -> None:
    """ERROR UNAUTHORIZED to the sender, correlated with the REGISTER, then close 1008."""
    conn = await asgi.open()
    await conn.accept()
    await conn.read_challenge()
    register = conn.register_message(nonce="A" * 43)
    await conn.send_text(register.to_json())
    error = await conn.expect(MessageType.ERROR)
    assert error.payload["code"] == ErrorCode.UNAUTHORIZED
    assert error.to == conn.did and error.correlation_id == register.id
    close = await conn.close_event()
    assert close["code"] == CLOSE_POLICY and close["reason"].startswith("UNAUTHORIZED:")
    assert conn.did not in asgi.app.hub.sessions


async def test_a_frame_before_register_is_not_registered(asgi: AsgiGateway) -> None:
    """The first frame must be REGISTER: anything else is NOT_REGISTERED, then close."""
    conn = await asgi.open()
    await conn.accept()
    challenge = await conn.read_challenge()
    ping = conn.make(MessageType.PING, challenge.from_, {})
    await conn.send_text(ping.to_json())
    error = await conn.expect(MessageType.ERROR)
    assert error.payload["code"] == ErrorCode.NOT_REGISTERED
    assert (await conn.close_event())["code"] == CLOSE_POLICY


async def test_no_register_in_time_is_a_timeout() -> None:
    """CONNECTION_TIMEOUT passes without a frame: close 1008, reason TIMEOUT."""
    async with asgi_gateway(_settings(connection_timeout=0.2)) as gateway:
        conn = await gateway.open()
        await conn.accept()
        await conn.read_challenge()
        close = await conn.close_event(within=5)
        assert close["code"] == CLOSE_POLICY and close["reason"].startswith("TIMEOUT:")
        assert gateway.app.parts.metrics.rejected[ErrorCode.TIMEOUT.value] == 1


# refusals before the handshake -----------------------------------------------------------------


async def test_max_connections_refuses_with_1013_and_frees_on_close() -> None:
    """At MAX_CONNECTIONS a new connection is closed 1013 CONNECTION_REFUSED; a slot frees."""
    async with asgi_gateway(_settings(max_connections=1)) as gateway:
        alice = await gateway.register()
        refused = await gateway.open()
        await refused.accept()
        close = await refused.close_event()
        assert close["code"] == CLOSE_TRY_LATER
        assert close["reason"].startswith("CONNECTION_REFUSED:")
        assert "MAX_CONNECTIONS" in close["reason"]
        await alice.disconnect()
        again = await gateway.register()
        assert again.did in gateway.app.hub.sessions


async def test_preauth_sockets_are_bounded_per_address() -> None:
    """MAX_PREAUTH_PER_IP=1: a second unregistered socket of one address is refused 1013."""
    async with asgi_gateway(_settings(max_preauth_per_ip=1)) as gateway:
        first = await gateway.open(client=("10.0.0.1", 1))
        await first.accept()
        await first.read_challenge()
        second = await gateway.open(client=("10.0.0.1", 2))
        await second.accept()
        close = await second.close_event()
        assert close["code"] == CLOSE_TRY_LATER
        other = await gateway.register(client=("10.0.0.2", 1))  # another address is let in
        assert other.did in gateway.app.hub.sessions


async def test_registrations_per_address_are_rate_limited() -> None:
    """Past MAX_REGISTRATIONS_PER_IP_PER_MINUTE: ERROR RATE_LIMITED with retry_after_ms."""
    settings = _settings(max_registrations_per_ip_per_minute=1)
    async with asgi_gateway(settings) as gateway:
        await gateway.register(client=("10.0.0.3", 1))
        conn = await gateway.open(client=("10.0.0.3", 2))
        await conn.accept()
        await conn.read_challenge()
        await conn.send_text(conn.register_message().to_json())
        error = await conn.expect(MessageType.ERROR)
        assert error.payload["code"] == ErrorCode.RATE_LIMITED
        assert error.payload["details"]["retry_after_ms"] > 0
        assert (await conn.close_event())["code"] == CLOSE_POLICY


# routing and ACKs ------------------------------------------------------------------------------


@pytest.mark.parametrize("batch", [False, True], ids=["single-sends", "batched-sends"])
async def test_a_frame_is_routed_unchanged_and_acked_delivered(batch: bool) -> None:
    """Alice -> bob: bob gets alice's bytes, alice gets ACK delivered for that id."""
    async with asgi_gateway(_settings()) as gateway:
        alice = await gateway.register(batch=batch)
        bob = await gateway.register(batch=batch)
        sent = await alice.send_message(MessageType.INTENT, bob.did, {"query": "hello"})
        assert await bob.text() == sent.to_json()
        ack = await alice.expect(MessageType.ACK)
        assert ack.payload == {"status": "delivered", "ids": [sent.id]}
        assert ack.correlation_id == sent.id


async def test_frames_for_an_offline_agent_are_queued_then_delivered(
    asgi: AsgiGateway,
) -> None:
    """ACK queued while bob is away; on REGISTER bob gets the stored frame."""
    alice = await asgi.register()
    bob_id = Identity.generate()
    sent = await alice.send_message(MessageType.INTENT, bob_id.did, {"query": "later"})
    ack = await alice.expect(MessageType.ACK)
    assert ack.payload["status"] == "queued"
    bob = await asgi.register(bob_id)
    assert (await bob.frame()).id == sent.id


async def test_unknown_agent_without_a_store() -> None:
    """STORE_MAX_PER_AGENT=0: a frame to an offline DID gets ERROR UNKNOWN_AGENT."""
    async with asgi_gateway(_settings(store_max_per_agent=0)) as gateway:
        alice = await gateway.register()
        sent = await alice.send_message(MessageType.INTENT, Identity.generate().did, {"query": "q"})
        error = await alice.expect(MessageType.ERROR)
        assert error.payload["code"] == ErrorCode.UNKNOWN_AGENT
        assert error.correlation_id == sent.id


async def test_ping_is_answered_by_the_gateway(asgi: AsgiGateway) -> None:
    """PING to the asgi: PONG correlated with it."""
    alice = await asgi.register()
    ping = await alice.send_message(MessageType.PING, asgi.app.hub.did, {})
    pong = await alice.expect(MessageType.PONG)
    assert pong.correlation_id == ping.id


async def test_refused_frames_leave_the_session_serving(asgi: AsgiGateway) -> None:
    """Binary, not JSON, replayed: each gets its ERROR code; the session still routes."""
    alice = await asgi.register()
    bob = await asgi.register()
    await alice.send_bytes(b"{}")
    assert (await alice.expect(MessageType.ERROR)).payload["code"] == ErrorCode.MALFORMED_MESSAGE
    await alice.send_text("not json")
    assert (await alice.expect(MessageType.ERROR)).payload["code"] == ErrorCode.MALFORMED_MESSAGE
    sent = await alice.send_message(MessageType.INTENT, bob.did, {"query": "one"})
    await bob.expect(MessageType.INTENT)
    await alice.expect(MessageType.ACK)
    await alice.send_text(sent.to_json())
    error = await alice.expect(MessageType.ERROR)
    assert error.payload["code"] == ErrorCode.REPLAY_DETECTED
    assert error.correlation_id == sent.id
    again = await alice.send_message(MessageType.INTENT, bob.did, {"query": "two"})
    assert (await bob.frame()).id == again.id
    assert asgi.app.parts.metrics.rejected[ErrorCode.REPLAY_DETECTED.value] == 1


async def test_an_oversized_frame_is_message_too_large() -> None:
    """A frame over MAX_MESSAGE_SIZE: ERROR MESSAGE_TOO_LARGE naming the bound; not routed."""
    async with asgi_gateway(_settings(max_message_size=2048)) as gateway:
        alice = await gateway.register()
        bob = await gateway.register()
        big = await alice.send_message(MessageType.INTENT, bob.did, {"query": "x" * 4096})
        error = await alice.expect(MessageType.ERROR)
        assert error.payload["code"] == ErrorCode.MESSAGE_TOO_LARGE
        assert error.payload["details"] == {"max_message_size": 2048}
        assert error.correlation_id == big.id
        assert bob.outgoing.empty()


async def test_past_the_frame_rate_frames_are_rate_limited() -> None:
    """RATE_LIMIT_FRAMES_PER_S=2 with a 1 s burst: the third PING gets RATE_LIMITED."""
    settings = _settings(rate_limit_frames_per_s=2, rate_limit_burst_s=1.0)
    async with asgi_gateway(settings) as gateway:
        alice = await gateway.register()
        hub = gateway.app.hub.did
        sent = [await alice.send_message(MessageType.PING, hub, {}) for _ in range(3)]
        answers = [await alice.frame() for _ in range(3)]
        assert [a.type for a in answers[:2]] == [MessageType.PONG] * 2
        refused = answers[2:]
        assert refused[0].type == MessageType.ERROR and refused[0].correlation_id == sent[2].id
        assert refused[0].payload["code"] == ErrorCode.RATE_LIMITED
        assert refused[0].payload["details"]["retry_after_ms"] > 0


async def test_a_streak_of_refusals_closes_the_connection_1008() -> None:
    """REFUSALS_BEFORE_CLOSE=3: the third refused frame in a row ends the session."""
    async with asgi_gateway(_settings(refusals_before_close=3)) as gateway:
        alice = await gateway.register()
        for _ in range(3):
            await alice.send_text("not json")
        event = await alice.event()
        while event["type"] == "websocket.send":  # ERRORs queued before the close may be let go
            assert Message.parse(event["text"]).payload["code"] == ErrorCode.MALFORMED_MESSAGE
            event = await alice.event()
        assert event["type"] == "websocket.close" and event["code"] == CLOSE_POLICY
        assert event["reason"].startswith("MALFORMED_MESSAGE")
        await alice.disconnect()
        assert alice.did not in gateway.app.hub.sessions


async def test_a_frame_from_another_did_is_did_mismatch(asgi: AsgiGateway) -> None:
    """A frame whose ``from`` is not the session's DID is refused, never routed."""
    alice = await asgi.register()
    bob = await asgi.register()
    other = Message.create(Identity.generate(), MessageType.INTENT, bob.did, {"query": "q"})
    await alice.send_text(other.to_json())
    error = await alice.expect(MessageType.ERROR)
    assert error.payload["code"] == ErrorCode.DID_MISMATCH
    assert error.correlation_id == other.id
    assert bob.outgoing.empty()


async def test_delivered_waits_for_the_recipient_ack(asgi: AsgiGateway) -> None:
    """Bob registered with recipient_acks: alice's ACK delivered follows bob's ACK received."""
    alice = await asgi.register()
    bob = await asgi.register(recipient_acks=True)
    sent = await alice.send_message(MessageType.INTENT, bob.did, {"query": "ack me"})
    assert (await bob.frame()).id == sent.id
    assert alice.outgoing.empty()
    receipt = bob.make(MessageType.ACK, asgi.app.hub.did, {"status": "received", "ids": [sent.id]})
    await bob.send_text(receipt.to_json())
    ack = await alice.expect(MessageType.ACK)
    assert ack.payload == {"status": "delivered", "ids": [sent.id]}


async def test_a_second_session_of_a_did_replaces_the_first(asgi: AsgiGateway) -> None:
    """The same DID registers again: the first connection is closed, the second gets frames."""
    me = Identity.generate()
    first = await asgi.register(me)
    second = await asgi.register(me)
    close = await first.close_event()
    assert (close["code"], close["reason"]) == (4000, "replaced")
    alice = await asgi.register()
    sent = await alice.send_message(MessageType.INTENT, me.did, {"query": "q"})
    assert (await second.frame()).id == sent.id


# shutdown --------------------------------------------------------------------------------------


async def test_shutdown_closes_sessions_1001_and_refuses_new_ones() -> None:
    """Lifespan shutdown: open sessions are closed 1001; a connection after that gets 1013."""
    async with asgi_gateway(_settings()) as gateway:
        alice = await gateway.register()
        closing = asyncio.create_task(gateway.app.hub.close_sessions())
        close = await alice.close_event()
        assert close["code"] == 1001
        await closing
        late = await gateway.open()
        await late.accept()
        refused = await late.close_event()
        assert refused["code"] == CLOSE_TRY_LATER and "stopping" in refused["reason"]


# idle sessions ---------------------------------------------------------------------------------


async def test_an_idle_session_holds_no_writer_task_and_wakes_on_the_next_frame(
    asgi: AsgiGateway,
) -> None:
    """Once REGISTERED is written, an idle session runs only its connection's task.

    The writer task is started by what there is to write and ends with it, so registered
    agents that send and receive nothing add one task each (their connection); a frame that
    arrives later is still written, and its sender ACKed.
    """
    alice = await asgi.register()
    await asyncio.sleep(0)
    before = len(asyncio.all_tasks())
    idle = [await asgi.register() for _ in range(10)]
    await asyncio.sleep(0)
    assert len(asyncio.all_tasks()) - before == len(idle)
    sent = await alice.send_message(MessageType.INTENT, idle[3].did, {"query": "later"})
    assert (await idle[3].expect(MessageType.INTENT)).id == sent.id
    ack = await alice.expect(MessageType.ACK)
    assert ack.payload["ids"] == [sent.id]
    await asyncio.sleep(0)
    assert len(asyncio.all_tasks()) - before == len(idle)
