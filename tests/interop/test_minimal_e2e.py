"""The independent client reproduces the encrypted-payload vectors and uses them live."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from nacl.bindings import crypto_scalarmult, crypto_scalarmult_base
from nacl.exceptions import CryptoError
from support.gateway import Gateway
from support.sealing import LOW_ORDER_X25519, craft_sealed

from aiconexus.protocol import Identity
from interop.minimal_client import Keypair, MinimalClient, build_frame, canonical_json, verify_frame
from interop.minimal_e2e import (
    ALG,
    associated_data,
    hchacha20,
    hkdf_sha256,
    open_envelope,
    seal,
    x25519_public_from_did,
    x25519_secret_from_seed,
)

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "encrypted-payloads.json").read_text(
        encoding="utf-8"
    )
)
KEYS = VECTORS["keys"]


def keypair(name: str) -> Keypair:
    """The key pair of a named vector key."""
    return Keypair(bytes.fromhex(KEYS[name]["seed"]))


def test_hchacha20_draft_vector() -> None:
    """HChaCha20 gives the subkey of draft-irtf-cfrg-xchacha section 2.2.1."""
    key = bytes(range(32))
    nonce = bytes.fromhex("000000090000004a0000000031415927")
    expected = "82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc"
    assert hchacha20(key, nonce).hex() == expected


@pytest.mark.parametrize("name", sorted(KEYS))
def test_key_agreement_keys_from_the_did(name: str) -> None:
    """The X25519 secret (from the seed) and public key (from the DID) match the vectors."""
    key = KEYS[name]
    secret = x25519_secret_from_seed(bytes.fromhex(key["seed"]))
    assert secret.hex() == key["x25519_secret"]
    assert x25519_public_from_did(key["did"]).hex() == key["x25519_public"]
    assert crypto_scalarmult_base(secret).hex() == key["x25519_public"]


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: c["name"])
def test_encrypted_vectors_reproduced(case: dict[str, Any]) -> None:
    """Every step of each case, then the exact signed frame, from the spec's recipe."""
    envelope = case["envelope"]
    assert VECTORS["alg"] == ALG == envelope["payload"]["enc"]["alg"]
    esk, nonce = bytes.fromhex(case["ephemeral_secret"]), bytes.fromhex(case["nonce"])
    epk = crypto_scalarmult_base(esk)
    rpk = x25519_public_from_did(envelope["to"])
    assert (epk.hex(), rpk.hex()) == (case["ephemeral_public"], case["recipient_x25519_public"])
    shared = crypto_scalarmult(esk, rpk)
    assert shared.hex() == case["shared_secret"]
    assert hkdf_sha256(shared, epk + rpk, ALG.encode()).hex() == case["key"]
    assert associated_data(envelope).decode() == case["associated_data"]
    assert canonical_json(case["plain_payload"]).decode() == case["plaintext"]
    sealed = seal(envelope, case["plain_payload"], ephemeral_secret=esk, nonce=nonce)
    assert sealed == envelope["payload"]
    sender = keypair(case["signer"])
    frame = build_frame(
        sender,
        envelope["type"],
        envelope["to"],
        sealed,
        correlation_id=envelope.get("correlation_id"),
        message_id=envelope["id"],
        timestamp=envelope["timestamp"],
    )
    assert json.loads(frame) == envelope
    received = verify_frame(json.dumps(envelope))
    assert open_envelope(keypair(case["recipient"]), received) == case["plain_payload"]


@pytest.mark.parametrize("case", VECTORS["tampered"], ids=lambda c: c["name"])
def test_tampered_vectors_do_not_open(case: dict[str, Any]) -> None:
    """Validly signed, but the AEAD refuses: ciphertext, nonce or a routing field changed."""
    received = verify_frame(json.dumps(case["envelope"]))
    with pytest.raises(CryptoError):
        open_envelope(keypair(case["recipient"]), received)


def test_a_third_key_cannot_open() -> None:
    """Key ``c`` cannot open a frame sealed for ``b``."""
    case = next(c for c in VECTORS["cases"] if c["recipient"] == "b")
    envelope = dict(case["envelope"], to=KEYS["c"]["did"])  # as c would have to read it
    with pytest.raises(CryptoError):
        open_envelope(keypair("c"), envelope)


async def test_encrypted_exec_round_trip_through_the_gateway(gateway: Gateway) -> None:
    """Two independent clients exchange encrypted EXEC frames; the gateway routes them as is."""
    alice, bob = MinimalClient(Keypair()), MinimalClient(Keypair())
    await alice.connect(gateway.ws_url, ["e2e-interop-a"])
    await bob.connect(gateway.ws_url, ["e2e-interop-b"])
    routing = {"version": "1.0", "id": "e2e-1", "type": "EXEC_REQUEST", "from": alice.keys.did,
               "to": bob.keys.did}  # fmt: skip
    sealed = seal(routing, {"args": {"secret": "interop-marker"}})
    frame = build_frame(alice.keys, "EXEC_REQUEST", bob.keys.did, sealed, message_id="e2e-1")
    await alice.send_text(frame)
    text, got = await bob.receive()
    assert text == frame
    assert open_envelope(bob.keys, got) == {"args": {"secret": "interop-marker"}}
    _, ack = await alice.receive()
    assert ack["type"] == "ACK" and ack["payload"]["ids"] == ["e2e-1"]
    back = {"version": "1.0", "id": "e2e-2", "type": "EXEC_RESPONSE", "from": bob.keys.did,
            "to": alice.keys.did, "correlation_id": "e2e-1"}  # fmt: skip
    reply = seal(back, {"status": "success", "result": 42})
    await bob.send_text(
        build_frame(
            bob.keys,
            "EXEC_RESPONSE",
            alice.keys.did,
            reply,
            correlation_id="e2e-1",
            message_id="e2e-2",
        )
    )
    _, answer = await alice.receive()
    assert open_envelope(alice.keys, answer) == {"status": "success", "result": 42}
    await alice.close()
    await bob.close()


def test_minimal_client_refuses_what_recipients_must_refuse() -> None:
    """All-zero shared secret, nesting past level 32, >16384 containers, duplicate names."""
    sender = Identity.from_seed(bytes.fromhex(KEYS["a"]["seed"]))
    recipient = Identity.from_seed(bytes.fromhex(KEYS["b"]["seed"]))
    deep = ('{"context":' + "[" * 30 + "]" * 30 + "}").encode()  # 31 levels from the payload
    wide = ('{"context":[' + ",".join(["{}"] * 16382) + "]}").encode()  # 16384 containers
    assert open_envelope(keypair("b"), craft_sealed(sender, recipient, deep))
    assert open_envelope(keypair("b"), craft_sealed(sender, recipient, wide))
    for envelope in (
        craft_sealed(sender, recipient, b'{"query":"q"}', epk=LOW_ORDER_X25519),
        craft_sealed(sender, recipient, deep.replace(b"[", b"[[", 1).replace(b"]", b"]]", 1)),
        craft_sealed(sender, recipient, wide.replace(b"[{}", b"[{},{}", 1)),
        craft_sealed(sender, recipient, b'{"query":"a","query":"b"}'),
    ):
        with pytest.raises((ValueError, CryptoError)):
            open_envelope(keypair("b"), envelope)
