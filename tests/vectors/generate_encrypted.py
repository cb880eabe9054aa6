"""Regenerate encrypted-payloads.json: end-to-end encrypted peer frames (PROTOCOL.md 8.10).

Run: .venv/bin/python tests/vectors/generate_encrypted.py  (fixed seeds, ephemeral keys and
nonces make the output stable; the test suite checks the committed file against this
generator). Each case shows every intermediate value of the construction; the ``tampered``
cases are correctly signed frames whose payload must NOT open.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from nacl.bindings import (
    crypto_scalarmult,
    crypto_scalarmult_base,
    crypto_sign_ed25519_sk_to_curve25519,
)

from aiconexus.protocol import Identity, Message, b64url_encode, canonicalize, seal_payload
from aiconexus.protocol.sealed import associated_data, derive_key, recipient_x25519

HERE = Path(__file__).resolve().parent
TIMESTAMP = "2026-11-26T09:17:09.123Z"
SEEDS = {"a": bytes(31) + b"\x01", "b": bytes(31) + b"\x02", "c": bytes(31) + b"\x04"}

CASES: list[tuple[str, str, str, dict[str, Any], str | None]] = [
    # (name, signer, type, plain payload, correlation_id); a <-> b
    ("offer", "a", "OFFER", {"sdp": "v=0\r\no=- 46117317 2 IN IP4 127.0.0.1\r\ns=-\r\n"}, None),
    ("answer", "b", "ANSWER", {"sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\n"},
     "00000000-0000-4000-8000-0000000000e1"),
    ("ice_candidate", "a", "ICE_CANDIDATE", {"candidate": "candidate:1 1 UDP 2122252543 "
     "127.0.0.1 50000 typ host", "sdp_mid": "0", "sdp_mline_index": 0}, None),
    ("intent", "a", "INTENT", {"task": "translate", "params": {"from": "fr", "to": "en"},
     "context": "Déjà vu — “quotes” ✓ 😀"}, None),
    ("exec_request", "a", "EXEC_REQUEST", {"args": {"text": "bonjour", "n": 1e21, "f": 1.5e-7},
     "timeout_ms": 5000}, None),
    ("exec_response", "b", "EXEC_RESPONSE", {"status": "success", "result": {"text": "hello"},
     "execution_time_ms": 12.5}, "00000000-0000-4000-8000-0000000000e5"),
    ("error", "b", "ERROR", {"code": "TIMEOUT", "message": "took too long"}, None),
]  # fmt: skip


def _fixed(label: str, size: int) -> bytes:
    return hashlib.sha256(label.encode()).digest()[:size]


def _agreement_secret(identity: Identity) -> bytes:
    return crypto_sign_ed25519_sk_to_curve25519(bytes(identity._signing_key) + identity.public_key)


def _case(n: int, keys: dict[str, Identity], case: tuple[Any, ...]) -> dict[str, Any]:
    name, signer, type_, plain, correlation = case
    sender = keys[signer]
    recipient = keys["b" if signer == "a" else "a"]
    routing: dict[str, Any] = {
        "version": "1.0",
        "id": f"00000000-0000-4000-8000-0000000000{0xE0 + n:02x}",
        "type": type_,
        "from": sender.did,
        "to": recipient.did,
    }
    if correlation is not None:
        routing["correlation_id"] = correlation
    esk, nonce = _fixed(f"ephemeral {name}", 32), _fixed(f"nonce {name}", 24)
    epk, rpk = crypto_scalarmult_base(esk), recipient_x25519(recipient.did)
    shared = crypto_scalarmult(esk, rpk)
    sealed = seal_payload(plain, routing, ephemeral_secret=esk, nonce=nonce)
    message = Message.create(
        sender, type_, recipient.did, sealed, correlation_id=correlation, id=routing["id"],
        timestamp=TIMESTAMP,
    )  # fmt: skip
    return {
        "name": name,
        "signer": signer,
        "recipient": "b" if signer == "a" else "a",
        "plain_payload": plain,
        "plaintext": canonicalize(plain).decode("utf-8"),
        "ephemeral_secret": esk.hex(),
        "ephemeral_public": epk.hex(),
        "recipient_x25519_public": rpk.hex(),
        "shared_secret": shared.hex(),
        "key": derive_key(shared, epk, rpk).hex(),
        "nonce": nonce.hex(),
        "associated_data": associated_data(routing).decode("utf-8"),
        "envelope": message.to_dict(),
        "signing_input": message.signing_bytes().decode("utf-8"),
    }


def _tampered(keys: dict[str, Identity], good: dict[str, Any]) -> list[dict[str, Any]]:
    """Re-signed frames built from the ``exec_request`` case: each must fail to open."""
    frame = good["envelope"]
    enc = frame["payload"]["enc"]
    ct = bytearray(bytes.fromhex(_b64_hex(enc["ct"])))
    ct[0] ^= 1
    nonce = bytearray(bytes.fromhex(good["nonce"]))
    nonce[0] ^= 1
    edits: list[tuple[str, str, str, dict[str, Any]]] = [
        ("ct_flipped", "a", "one bit of ct flipped", {"ct": b64url_encode(bytes(ct))}),
        ("nonce_flipped", "a", "one bit of nonce flipped", {"nonce": b64url_encode(bytes(nonce))}),
        ("id_changed", "a", "id differs from the one sealed", {"id": frame["id"][:-1] + "f"}),
        ("type_changed", "a", "type differs (EXEC_RESPONSE)", {"type": "EXEC_RESPONSE"}),
        ("correlation_added", "a", "a correlation_id the sealed frame did not have",
         {"correlation_id": "00000000-0000-4000-8000-000000000099"}),
        ("lifted_by_c", "c", "c signs a's ciphertext as its own (from = c)", {"from": keys["c"].did}),
    ]  # fmt: skip
    out = []
    for name, signer, why, change in edits:
        envelope = {k: v for k, v in frame.items() if k != "signature"}
        envelope["payload"] = {"enc": dict(enc)}
        for key, value in change.items():
            if key in enc:
                envelope["payload"]["enc"][key] = value
            else:
                envelope[key] = value
        envelope["signature"] = b64url_encode(keys[signer].sign(canonicalize(envelope)))
        out.append({"name": name, "why": why, "signer": signer, "recipient": "b",
                    "envelope": envelope})  # fmt: skip
    return out


def _b64_hex(text: str) -> str:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).hex()


def build() -> dict[str, Any]:
    """Build the whole vector document."""
    keys = {name: Identity.from_seed(seed) for name, seed in SEEDS.items()}
    cases = [_case(n, keys, case) for n, case in enumerate(CASES, start=1)]
    exec_request = next(c for c in cases if c["name"] == "exec_request")
    return {
        "description": "IoAP v1 peer frames with end-to-end encrypted payloads "
        "(X25519-HKDF-SHA256-XC20P, PROTOCOL.md 8.10), from fixed seeds, ephemeral keys and "
        "nonces; hex for raw bytes, unpadded base64url inside frames. 'tampered' frames are "
        "validly signed but must not open.",
        "alg": "X25519-HKDF-SHA256-XC20P",
        "keys": {
            name: {
                "seed": SEEDS[name].hex(),
                "did": k.did,
                "x25519_secret": _agreement_secret(k).hex(),
                "x25519_public": recipient_x25519(k.did).hex(),
            }
            for name, k in keys.items()
        },
        "cases": cases,
        "tampered": _tampered(keys, exec_request),
    }  # fmt: skip


def render() -> str:
    """The file content of encrypted-payloads.json."""
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    (HERE / "encrypted-payloads.json").write_text(render(), encoding="utf-8")
