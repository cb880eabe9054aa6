"""The gateway routes encrypted payloads it cannot read, checks their form, and may require them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.client import RawClient
from support.gateway import GatewayProcess
from support.starter import StartGateway

from aiconexus.protocol import SEALABLE_TYPES, Identity, Message, b64url_encode, canonicalize
from aiconexus_gateway.settings import Settings, SettingsError

PLAIN: dict[str, dict[str, Any]] = {
    "OFFER": {"sdp": "v=0 offer"},
    "ANSWER": {"sdp": "v=0 answer"},
    "ICE_CANDIDATE": {"candidate": "candidate:1 1 UDP 1 127.0.0.1 9 typ host"},
    "INTENT": {"task": "translate", "query": "bonjour"},
    "EXEC_REQUEST": {"args": {"text": "bonjour"}, "timeout_ms": 100},
    "EXEC_RESPONSE": {"status": "success", "result": {"text": "hello"}},
    "ERROR": {"code": "TIMEOUT", "message": "took too long"},
}


def resigned(identity: Identity, envelope: dict[str, Any]) -> str:
    """``envelope`` (without its old signature) signed by ``identity``, as frame text."""
    body = {k: v for k, v in envelope.items() if k != "signature"}
    body["signature"] = b64url_encode(identity.sign(canonicalize(body)))
    return canonicalize(body).decode()


async def test_every_peer_type_round_trips_encrypted(pair: tuple[RawClient, RawClient]) -> None:
    """Each sealable type is routed byte for byte, ACKed, and opens for the recipient only."""
    alice, bob = pair
    assert set(PLAIN) == {str(t) for t in SEALABLE_TYPES}
    for kind, payload in PLAIN.items():
        sent = alice.make(kind, bob.did, payload, encrypt=True)
        await alice.send_text(sent.to_json())
        text = await bob.recv_text()
        assert text == sent.to_json()
        received = Message.parse(text)
        received.verify()
        assert received.decrypt(bob.identity).payload == payload
        assert await alice.expect_acks(1) == {sent.id: "delivered"}


@pytest.mark.parametrize(
    ("enc", "problem"),
    [
        ({"alg": "A256GCM"}, "enc.alg"),
        ({"epk": "A" * 44}, "enc.epk"),
        ({"nonce": "A*" * 16}, "enc.nonce"),
        ({"ct": "short"}, "enc.ct"),
        ({"kid": "x"}, "exactly"),
    ],
)
async def test_malformed_encrypted_forms_are_refused(
    pair: tuple[RawClient, RawClient], enc: dict[str, Any], problem: str
) -> None:
    """A broken encrypted form is MALFORMED_MESSAGE (naming the field, not its value)."""
    alice, bob = pair
    good = alice.make("INTENT", bob.did, {"query": "q"}, encrypt=True)
    form = {**good.payload["enc"], **enc}
    bad = alice.make("INTENT", bob.did, {"enc": form, "query": "x"})  # valid as plain INTENT...
    envelope = {**bad.to_dict(), "payload": {"enc": form}}  # ...then made the broken form
    await alice.send_text(resigned(alice.identity, envelope))
    error = await alice.expect_error("MALFORMED_MESSAGE", bad.id)
    assert problem in error.payload["message"] and "AAAA" not in error.payload["message"]
    ok = await alice.send_message("INTENT", bob.did, {"query": "still open"}, encrypt=True)
    assert Message.parse(await bob.recv_text()).id == ok.id


async def test_encrypted_frames_to_the_gateway_are_refused(
    pair: tuple[RawClient, RawClient],
) -> None:
    """The gateway reads what is addressed to it: an encrypted payload there is malformed."""
    alice, _ = pair
    assert alice.gateway_did is not None
    sealed = alice.make("ERROR", Identity.generate().did, PLAIN["ERROR"], encrypt=True)
    envelope = {**sealed.to_dict(), "to": alice.gateway_did}
    await alice.send_text(resigned(alice.identity, envelope))
    error = await alice.expect_error("MALFORMED_MESSAGE", sealed.id)
    assert "another agent" in error.payload["message"]


async def test_a_changed_clear_field_breaks_the_signature(
    pair: tuple[RawClient, RawClient],
) -> None:
    """The signature covers ciphertext and routing fields: the gateway refuses any change."""
    alice, bob = pair
    sent = alice.make("EXEC_REQUEST", bob.did, PLAIN["EXEC_REQUEST"], encrypt=True)
    wire = sent.to_dict()
    enc = wire["payload"]["enc"]
    flipped = "B" if enc["ct"][0] != "B" else "C"
    changes: list[dict[str, Any]] = [
        {"payload": {"enc": {**enc, "ct": flipped + enc["ct"][1:]}}},
        {"payload": {"enc": {**enc, "nonce": flipped + enc["nonce"][1:]}}},
        {"type": "EXEC_RESPONSE"},
        {"correlation_id": "other"},
        {"to": Identity.generate().did},
    ]
    for change in changes:
        await alice.send_text(json.dumps({**wire, **change}))
        await alice.expect_error("INVALID_SIGNATURE", sent.id)
    await alice.send_text(sent.to_json())
    assert await bob.recv_text() == sent.to_json()


async def test_require_encryption_refuses_plain_payloads(tmp_path: Path) -> None:
    """REQUIRE_ENCRYPTION lists types refused in plain (ENCRYPTION_REQUIRED), others pass."""
    env = {"STORAGE_TYPE": "memory", "REQUIRE_ENCRYPTION": "exec_request, EXEC_RESPONSE"}
    with GatewayProcess(env, tmp_path) as gateway:
        alice = await RawClient.connect(gateway.ws_url)
        bob = await RawClient.connect(gateway.ws_url)
        plain = await alice.send_message("EXEC_REQUEST", bob.did, PLAIN["EXEC_REQUEST"])
        error = await alice.expect_error("ENCRYPTION_REQUIRED", plain.id)
        assert "EXEC_REQUEST" in error.payload["message"]
        sealed = await alice.send_message(
            "EXEC_REQUEST", bob.did, PLAIN["EXEC_REQUEST"], id=plain.id, encrypt=True
        )  # the refused id was not used up
        assert Message.parse(await bob.recv_text()).id == sealed.id
        intent = await alice.send_message("INTENT", bob.did, PLAIN["INTENT"])
        assert Message.parse(await bob.recv_text()).id == intent.id
        assert alice.gateway_did is not None
        await alice.send_message("PING", alice.gateway_did, {"sequence": 1})
        assert await alice.expect_acks(2) == {sealed.id: "delivered", intent.id: "delivered"}
        await alice.expect("PONG")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", frozenset()),
        ("none", frozenset()),
        ("all-peer", frozenset(str(t) for t in SEALABLE_TYPES)),
        ("intent ,OFFER", frozenset({"INTENT", "OFFER"})),
    ],
)
def test_require_encryption_setting(raw: str, expected: frozenset[str]) -> None:
    """REQUIRE_ENCRYPTION reads none, all-peer or a list of sealable types (any case)."""
    assert Settings.from_env({"REQUIRE_ENCRYPTION": raw}).require_encryption == expected


@pytest.mark.parametrize("raw", ["PING", "OFFER,REGISTER", ",", "everything"])
def test_require_encryption_refuses_other_values(raw: str) -> None:
    """Types that are never encrypted, or unknown words, are a settings error."""
    with pytest.raises(SettingsError, match="REQUIRE_ENCRYPTION"):
        Settings.from_env({"REQUIRE_ENCRYPTION": raw})


async def test_all_peer_refuses_extra_members_in_unsealable_types(
    start_gateway: StartGateway,
) -> None:
    """all-peer: PING, PONG, REGISTER, UNREGISTER to an agent carry only their schema's members.

    These types cannot be encrypted; a member beyond the schema would carry plaintext to the
    other agent. Refused ENCRYPTION_REQUIRED (id not used up); the schema alone passes, and
    the same frames to the gateway are unaffected.
    """
    gateway = start_gateway(require_encryption="all-peer")
    alice = await RawClient.connect(gateway.ws_url)
    bob = await RawClient.connect(gateway.ws_url)
    secret = {"note": "the plaintext that must not travel"}
    MEMBERS = {
        "PING": ["sequence"],
        "PONG": ["sequence"],
        "REGISTER": [
            "capabilities",
            "capability_info",
            "metadata",
            "nonce",
            "public_key",
            "recipient_acks",
        ],
        "UNREGISTER": ["reason"],
    }
    schema: dict[str, dict[str, Any]] = {
        "PING": {"sequence": 7},
        "PONG": {"sequence": 7},
        "REGISTER": {"nonce": "n", "capabilities": [], "metadata": {}},
        "UNREGISTER": {"reason": "done"},
    }
    for kind, payload in schema.items():
        leaking = await alice.send_message(kind, bob.did, {**payload, **secret})
        error = await alice.expect_error("ENCRYPTION_REQUIRED", leaking.id)
        assert kind in error.payload["message"] and "note" not in error.payload["message"]
        assert error.payload["details"] == {"members": MEMBERS[kind]}
        clean = await alice.send_message(kind, bob.did, payload, id=leaking.id)
        assert Message.parse(await bob.recv_text()).id == clean.id
        assert await alice.expect_acks(1) == {clean.id: "delivered"}
    assert alice.gateway_did is not None
    await alice.send_message("PING", alice.gateway_did, {"sequence": 1, **secret})
    await alice.expect("PONG")
