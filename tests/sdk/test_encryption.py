"""End-to-end encrypted payloads in the SDK, against a real gateway."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from support.gateway import Gateway
from support.starter import StartGateway

from aiconexus import (
    Agent,
    EncryptionRequiredError,
    GatewayClient,
    Identity,
    Message,
    MessageType,
)
from aiconexus._dispatch import Action, Dispatcher
from aiconexus._inbound import InboundFilter
from aiconexus._pending import ReplyWaiters
from aiconexus._writer import Writer
from aiconexus.protocol import b64url_encode, canonicalize, format_timestamp, seal_payload

from .conftest import fast_options
from .test_cli import cli

PLAIN: dict[str, dict[str, Any]] = {
    "OFFER": {"sdp": "v=0 offer"},
    "ANSWER": {"sdp": "v=0 answer"},
    "ICE_CANDIDATE": {"candidate": "candidate:1 1 UDP 1 127.0.0.1 9 typ host"},
    "INTENT": {"query": "private question"},
    "EXEC_REQUEST": {"args": {"secret": "s3cr3t"}},
    "EXEC_RESPONSE": {"status": "success", "result": 42},
    "ERROR": {"code": "TIMEOUT", "message": "took too long"},
}


async def next_message(client: GatewayClient, within: float = 5.0) -> Message:
    """The next message user code would see."""
    async with asyncio.timeout(within):
        return await client.recv()


def forged(
    sender: Identity, routing: dict[str, Any], sealed_for: dict[str, Any], plain: Any
) -> str:
    """A frame of ``routing``, validly signed, whose payload was sealed for ``sealed_for``."""
    envelope = {**routing, "timestamp": format_timestamp()}
    envelope["payload"] = seal_payload(plain, sealed_for)
    envelope["signature"] = b64url_encode(sender.sign(canonicalize(envelope)))
    return canonicalize(envelope).decode()


def test_the_dispatcher_opens_after_the_checks() -> None:
    """Verified, new frames from agents are opened; what does not open is dropped, with receipt."""
    me, peer, other = Identity.generate(), Identity.generate(), Identity.generate()
    inbound = InboundFilter(me.did)
    dispatcher = Dispatcher(
        inbound,
        sends=Writer(me, resign_after_s=60.0),
        replies=ReplyWaiters(),
        pongs=ReplyWaiters(),
        keys=me,
    )
    sealed = Message.create(peer, "INTENT", me.did, {"query": "q"}, encrypt=True)
    checked = dispatcher.check(sealed.to_json(), other.did, datetime.now(UTC), 1.0)
    assert checked.action is Action.VERIFIED and checked.message is not None
    assert checked.message.payload == {"query": "q"} and checked.message.encrypted
    duplicate = dispatcher.check(sealed.to_json(), other.did, datetime.now(UTC), 2.0)
    assert duplicate.action is Action.DROP and "duplicate" in duplicate.detail
    routing = {"version": "1.0", "id": "x1", "type": "INTENT", "from": peer.did, "to": me.did}
    lifted = forged(peer, routing, {**routing, "to": other.did}, {"query": "not for me"})
    dropped = dispatcher.check(lifted, other.did, datetime.now(UTC), 3.0)
    assert (dropped.action, dropped.receipt) == (Action.DROP, "x1")
    assert "not usable" in dropped.detail and "not for me" not in dropped.detail


async def test_encrypted_request_gets_an_encrypted_answer(gateway: Gateway) -> None:
    """The handler sees the plain payload; the Agent's answer is encrypted like the request."""
    agent = Agent(Identity.generate(), **fast_options())
    seen: list[Message] = []

    @agent.on("EXEC_REQUEST")
    async def handle(message: Message) -> dict[str, Any]:
        seen.append(message)
        return {"echo": message.payload["args"]}

    async with (
        agent.connect(gateway.ws_url),
        GatewayClient(gateway.ws_url, Identity.generate(), **fast_options()) as client,
    ):
        response = await client.request(agent.did, {"secret": "s3cr3t"}, encrypt=True)
        plain = await client.request(agent.did, {"open": 1})
    assert seen[0].encrypted and seen[0].payload["args"] == {"secret": "s3cr3t"}
    assert response.encrypted and response.payload["result"] == {"echo": {"secret": "s3cr3t"}}
    assert "s3cr3t" not in response.to_json()  # the frame as received is the encrypted one
    assert not seen[1].encrypted and not plain.encrypted  # replies follow the request


async def test_client_default_seals_every_peer_type(gateway: Gateway) -> None:
    """GatewayClient(encrypt=True) seals each type that may be; PING stays plain."""
    alice_id, bob_id = Identity.generate(), Identity.generate()
    async with (
        GatewayClient(gateway.ws_url, alice_id, encrypt=True, **fast_options()) as alice,
        GatewayClient(gateway.ws_url, bob_id, **fast_options()) as bob,
    ):
        for kind, payload in PLAIN.items():
            assert await alice.send(bob.did, kind, payload) == "delivered"
            got = await next_message(bob)
            assert (got.type, got.payload, got.encrypted) == (kind, payload, True)
        await alice.send(bob.did, "INTENT", {"query": "open"}, encrypt=False)
        assert not (await next_message(bob)).encrypted
        await alice.send(bob.did, "PING", {"sequence": 1})  # PING is never encrypted
        assert (await next_message(bob)).payload == {"sequence": 1}
        with pytest.raises(ValueError, match="cannot be encrypted"):
            await alice.send(bob.did, "PING", {}, encrypt=True)


async def test_frames_that_do_not_open_are_dropped(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    """A copy lifted to a third agent, a tampered id, a bad plaintext: dropped with a warning."""
    alice_id, bob_id, eve_id = Identity.generate(), Identity.generate(), Identity.generate()
    async with (
        GatewayClient(gateway.ws_url, alice_id, **fast_options()) as alice,
        GatewayClient(gateway.ws_url, bob_id, **fast_options()) as bob,
        GatewayClient(gateway.ws_url, eve_id, **fast_options()) as eve,
    ):
        for_bob = {"version": "1.0", "id": "sealed-for-bob", "type": "INTENT",
                   "from": alice.did, "to": bob.did}  # fmt: skip
        to_eve = {**for_bob, "id": "copy-to-eve", "to": eve.did}
        other_id = {**for_bob, "id": "other-id"}
        no_args = {**for_bob, "id": "no-args", "type": "EXEC_REQUEST"}
        caplog.set_level(logging.WARNING, "aiconexus.client")
        for routing, sealed_for, plain in (
            (to_eve, for_bob, {"query": "for bob only"}),  # a copy eve cannot open
            (other_id, for_bob, {"query": "id changed"}),  # bound to another id
            (no_args, no_args, {"no": "args"}),  # opens, but is no EXEC_REQUEST
        ):
            frame = Message.parse(forged(alice_id, routing, sealed_for, plain))
            assert await alice.send_message(frame) == "delivered"  # the gateway cannot tell
        await alice.send(eve.did, "INTENT", {"query": "fine"}, encrypt=True)
        await alice.send(bob.did, "INTENT", {"query": "fine"}, encrypt=True)
        assert (await next_message(eve)).payload == {"query": "fine"}
        assert (await next_message(bob)).payload == {"query": "fine"}
    dropped = [r.getMessage() for r in caplog.records if "payload not usable" in r.getMessage()]
    assert len(dropped) == 3, dropped
    assert all("for bob only" not in line for line in dropped)


async def test_a_gateway_that_requires_encryption(start_memory_gateway: StartGateway) -> None:
    """REQUIRE_ENCRYPTION: a plain send raises EncryptionRequiredError; encrypted passes."""
    gateway = start_memory_gateway(REQUIRE_ENCRYPTION="EXEC_REQUEST,EXEC_RESPONSE")
    async with (
        GatewayClient(gateway.ws_url, Identity.generate(), **fast_options()) as alice,
        GatewayClient(gateway.ws_url, Identity.generate(), **fast_options()) as bob,
    ):
        with pytest.raises(EncryptionRequiredError):
            await alice.send(bob.did, MessageType.EXEC_REQUEST, {"args": {}})
        assert await alice.send(bob.did, "EXEC_REQUEST", {"args": {}}, encrypt=True) == "delivered"
        assert (await next_message(bob)).encrypted


async def test_cli_send_and_request_encrypt(gateway: Gateway, tmp_path: Path) -> None:
    """`--encrypt` seals what the command line sends; request prints the answer decrypted."""
    key = tmp_path / "cli.key"
    cli("keygen", "--out", str(key))
    agent = Agent(Identity.generate(), **fast_options())

    @agent.on("EXEC_REQUEST")
    async def handle(message: Message) -> dict[str, Any]:
        assert message.encrypted
        return {"got": message.payload["args"]}

    async with agent.connect(gateway.ws_url):
        done: subprocess.CompletedProcess[str] = await asyncio.to_thread(
            cli, "request", "--key", str(key), "--to", agent.did, "--args", '{"k": "cli-secret"}',
            "--encrypt", "--gateway", gateway.ws_url)  # fmt: skip
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["payload"]["result"] == {"got": {"k": "cli-secret"}}
    async with GatewayClient(gateway.ws_url, Identity.generate(), **fast_options()) as bob:
        sent = await asyncio.to_thread(
            cli, "send", "--key", str(key), "--to", bob.did, "--type", "INTENT",
            "--payload", '{"query": "cli"}', "--encrypt", "--gateway", gateway.ws_url)  # fmt: skip
        assert sent.returncode == 0 and sent.stdout.strip() == "delivered", sent.stderr
        got = await next_message(bob)
    assert got.encrypted and got.payload == {"query": "cli"}
    refused = cli("send", "--key", str(key), "--to", agent.did, "--type", "PING", "--encrypt")
    assert refused.returncode == 2 and "never encrypted" in refused.stderr
