"""The opening handshake of both sides, driven frame by frame without a socket."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aiconexus.protocol import (
    ClientHandshake,
    ClientState,
    ClockSkewError,
    CloseCode,
    DidMismatchError,
    ErrorCode,
    HandshakeError,
    Identity,
    IdentityFrames,
    InvalidSignatureError,
    IoapError,
    MalformedMessageError,
    Message,
    MessageType,
    NotRegisteredError,
    QueueFullError,
    ServerHandshake,
    ServerState,
    UnauthorizedError,
    UnsupportedVersionError,
    b58encode,
    error_from_code,
)

GATEWAY = Identity.from_seed(bytes(31) + b"\x07")
AGENT = Identity.from_seed(bytes(31) + b"\x08")
OTHER = Identity.from_seed(bytes(31) + b"\x09")
FRAMES = IdentityFrames(GATEWAY)


def _registered(register: Message, **payload: Any) -> str:
    body = {"session_id": "s-1", "heartbeat_interval_s": 15, "queued": 2, **payload}
    return FRAMES.build(MessageType.REGISTERED, register.from_, body, register.id)


def _started(**options: Any) -> tuple[ServerHandshake, ClientHandshake, Message]:
    server = ServerHandshake(FRAMES, clock_skew_s=60)
    client = ClientHandshake(AGENT, **options)
    register = client.receive_challenge(server.challenge())
    return server, client, register


def _resigned(message: Message, signer: Identity = AGENT, **changes: Any) -> str:
    """``message`` with envelope ``changes``, signed again by ``signer``."""
    data = message.to_dict()
    data.pop("signature")
    data.update(changes)
    return Message.create(
        signer,
        data["type"],
        data["to"],
        data["payload"],
        correlation_id=data.get("correlation_id"),
        timestamp=data["timestamp"],
    ).to_json()


def test_a_full_handshake_without_a_socket() -> None:
    """CHALLENGE -> REGISTER -> REGISTERED: both sides agree, and their states move on."""
    server = ServerHandshake(FRAMES)
    client = ClientHandshake(AGENT, capabilities=["translate"], metadata={"v": 1})
    assert (server.state, client.state) == (ServerState.NEW, ClientState.AWAITING_CHALLENGE)
    register = client.receive_challenge(server.challenge())
    assert server.state is ServerState.CHALLENGE_SENT
    assert client.state is ClientState.AWAITING_REPLY and client.gateway_did == GATEWAY.did
    registration = server.receive_register(register.to_json())
    assert server.state is ServerState.ACCEPTED and server.registration is registration
    assert registration.did == AGENT.did and registration.capabilities == ("translate",)
    assert registration.metadata == {"v": 1} and registration.recipient_acks is False
    assert registration.public_key == AGENT.public_key
    assert registration.message.id == register.id
    granted = client.receive_reply(_registered(register))
    assert client.state is ClientState.REGISTERED
    assert (granted.gateway_did, granted.session_id, granted.queued) == (GATEWAY.did, "s-1", 2)
    assert granted.heartbeat_interval_s == 15.0 and granted.recipient_acks is False


@pytest.mark.parametrize(("asked", "echoed", "granted"), [(True, True, True), (True, False, False)])
def test_recipient_acks_are_granted_only_when_asked_and_echoed(
    asked: bool, echoed: bool, granted: bool
) -> None:
    """REGISTER asks for recipient ACKs; only REGISTERED's echo turns them on."""
    server, client, register = _started(recipient_acks=asked)
    assert server.receive_register(register.to_json()).recipient_acks is asked
    extra = {"recipient_acks": True} if echoed else {}
    assert client.receive_reply(_registered(register, **extra)).recipient_acks is granted


def _refused_with(text: str, server: ServerHandshake, **options: Any) -> IoapError:
    with pytest.raises(IoapError) as caught:
        server.receive_register(text, **options)
    assert server.state is ServerState.REFUSED
    return caught.value


def test_the_server_refuses_each_broken_register_with_its_code() -> None:
    """Each check of PROTOCOL.md 7.2 answers its own error class."""
    cases: list[tuple[type[IoapError], Any]] = [
        (MalformedMessageError, lambda r: "not json"),
        (UnsupportedVersionError, lambda r: json.dumps({**r.to_dict(), "version": "2.0"})),
        (NotRegisteredError, lambda r: Message.create(AGENT, "PING", GATEWAY.did, {}).to_json()),
        (MalformedMessageError, lambda r: json.dumps({**r.to_dict(), "from": "did:web:x"})),
        (InvalidSignatureError, lambda r: json.dumps({**r.to_dict(), "signature": "A" * 86})),
        (MalformedMessageError, lambda r: _resigned(r, payload={**r.payload, "public_key": "?"})),
        (UnauthorizedError, lambda r: _resigned(r, to=OTHER.did)),
        (UnauthorizedError, lambda r: _resigned(r, payload={**r.payload, "nonce": "x"})),
    ]
    for expected, make in cases:
        server, _, register = _started()
        error = _refused_with(make(register), server)
        assert type(error) is expected, (expected, error)


def test_a_public_key_of_another_agent_is_a_did_mismatch() -> None:
    """REGISTER's public_key must be the key of its DID."""
    server, client, _ = _started()
    register = client.register_message(public_key=b58encode(OTHER.public_key))
    assert isinstance(_refused_with(register.to_json(), server), DidMismatchError)
    server, client, _ = _started()
    register = client.register_message(public_key=b58encode(AGENT.public_key))
    assert server.receive_register(register.to_json()).did == AGENT.did


def test_a_stale_register_is_clock_skew() -> None:
    """The REGISTER's timestamp must be within the server's clock skew."""
    server, _, register = _started()
    later = datetime.now(UTC) + timedelta(seconds=61)
    error = _refused_with(register.to_json(), server, now=later)
    assert isinstance(error, ClockSkewError) and error.details == {"allowed_skew_s": 60}


def test_the_payload_check_runs_before_the_signature() -> None:
    """The extra payload check answers first, even for a REGISTER with a bad signature."""
    seen: list[dict[str, Any]] = []

    def check(payload: dict[str, Any]) -> None:
        seen.append(payload)
        raise MalformedMessageError("too many capabilities")

    server = ServerHandshake(FRAMES, check_payload=check)
    register = ClientHandshake(AGENT).receive_challenge(server.challenge())
    forged = json.dumps({**register.to_dict(), "signature": "A" * 86})
    assert str(_refused_with(forged, server)) == "MALFORMED_MESSAGE: too many capabilities"
    assert seen and seen[0]["nonce"] == server.nonce


def test_a_refusal_is_an_error_frame_then_close_1008() -> None:
    """The ERROR carries the error's whole payload (details too); the close reason its code."""
    server, _, register = _started()
    error = error_from_code(ErrorCode.RATE_LIMITED, "slow down", {"retry_after_ms": 250})
    refusal = server.refuse(error, sender=AGENT.did, correlation_id=register.id)
    assert server.state is ServerState.REFUSED
    assert (refusal.code, refusal.reason) == (CloseCode.POLICY_VIOLATION, "RATE_LIMITED: slow down")
    assert refusal.frame is not None
    frame = Message.parse(refusal.frame)
    frame.verify()
    assert (frame.type, frame.to, frame.correlation_id) == ("ERROR", AGENT.did, register.id)
    assert frame.payload == error.to_payload()
    assert frame.payload["details"] == {"retry_after_ms": 250}
    anonymous = ServerHandshake(FRAMES).refuse(error)
    assert anonymous.frame is None and anonymous.reason == refusal.reason


def _challenge(**changes: Any) -> str:
    base = Message.create(GATEWAY, MessageType.CHALLENGE, None, {"nonce": "n"})
    return _resigned(base, GATEWAY, **changes) if changes else base.to_json()


def test_the_client_refuses_a_challenge_that_is_not_from_its_gateway() -> None:
    """Wrong type, a ``to``, another DID than the pinned one, a bad signature: HandshakeError."""
    bad_signature = json.dumps({**json.loads(_challenge()), "signature": "A" * 86})
    for frame in (
        Message.create(GATEWAY, "PING", None, {}).to_json(),
        _challenge(to=AGENT.did),
        bad_signature,
    ):
        client = ClientHandshake(AGENT)
        with pytest.raises(HandshakeError):
            client.receive_challenge(frame)
        assert client.state is ClientState.FAILED
    pinned = ClientHandshake(AGENT, gateway_did=OTHER.did)
    with pytest.raises(HandshakeError, match="expected the pinned"):
        pinned.receive_challenge(_challenge())
    assert ClientHandshake(AGENT, gateway_did=GATEWAY.did).receive_challenge(_challenge())


def test_the_client_refuses_a_stale_or_binary_challenge() -> None:
    """A CHALLENGE far from the local clock is ClockSkewError; a binary frame is malformed."""
    client = ClientHandshake(AGENT, clock_skew_s=30)
    with pytest.raises(ClockSkewError):
        client.receive_challenge(_challenge(), now=datetime.now(UTC) + timedelta(minutes=5))
    with pytest.raises(MalformedMessageError):
        ClientHandshake(AGENT).receive_challenge(_challenge().encode())


def test_an_error_answer_raises_its_protocol_error() -> None:
    """ERROR answering REGISTER raises the typed error, with its details."""
    server, client, register = _started()
    error = QueueFullError("full", details={"k": 1})
    refusal = server.refuse(error, sender=AGENT.did, correlation_id=register.id)
    assert refusal.frame is not None
    with pytest.raises(QueueFullError) as caught:
        client.receive_reply(refusal.frame)
    assert caught.value.details == {"k": 1} and client.state is ClientState.FAILED


def test_the_client_refuses_a_reply_that_does_not_answer_its_register() -> None:
    """Another sender, another REGISTER's id, or another type: HandshakeError."""
    for make in (
        lambda r: Message.create(OTHER, "REGISTERED", AGENT.did, _body(), correlation_id=r.id),
        lambda r: FRAMES.build(MessageType.REGISTERED, AGENT.did, _body(), "other-id"),
        lambda r: FRAMES.build(MessageType.PONG, AGENT.did, {}, r.id),
    ):
        _, client, register = _started()
        reply = make(register)
        with pytest.raises(HandshakeError):
            client.receive_reply(reply if isinstance(reply, str) else reply.to_json())
        assert client.state is ClientState.FAILED


def _body() -> dict[str, Any]:
    return {"session_id": "s", "heartbeat_interval_s": 1, "queued": 0}


def test_steps_out_of_order_are_a_programming_error() -> None:
    """Each side takes its frames in order only."""
    server, client, register = _started()
    with pytest.raises(RuntimeError):
        server.challenge()
    with pytest.raises(RuntimeError):
        client.receive_challenge(_challenge())
    with pytest.raises(RuntimeError):
        ServerHandshake(FRAMES).receive_register(register.to_json())
    with pytest.raises(RuntimeError):
        ClientHandshake(AGENT).register_message()
