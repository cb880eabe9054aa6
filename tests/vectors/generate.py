"""Regenerate envelopes.json: signed IoAP envelopes from fixed seeds, for other implementations.

Run: .venv/bin/python tests/vectors/generate.py  (Ed25519 signatures are deterministic, so the
output is stable; the test suite checks the committed file against this generator.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiconexus.protocol import Identity, Message, b64url_encode

HERE = Path(__file__).resolve().parent
SEED_A = bytes(31) + b"\x01"
SEED_B = bytes(31) + b"\x02"
SEED_GATEWAY = bytes(31) + b"\x03"
TIMESTAMP = "2026-11-26T09:17:09.123Z"

CASES: list[tuple[str, str, str, dict[str, Any], str | None]] = [
    # (name, signer, type, payload, correlation_id); recipients follow from the signer
    ("challenge", "gateway", "CHALLENGE", {"nonce": b64url_encode(bytes(range(32)))}, None),
    ("register", "a", "REGISTER", {"nonce": b64url_encode(bytes(range(32))),
     "capabilities": ["translate", "summarize"], "metadata": {"name": "Translator", "v": 2}}, None),
    ("registered", "gateway", "REGISTERED",
     {"session_id": "6f1c2b7e-0000-4000-8000-000000000001", "heartbeat_interval_s": 15, "queued": 0},
     "00000000-0000-4000-8000-000000000002"),
    ("offer", "a", "OFFER", {"sdp": "v=0\r\no=- 46117317 2 IN IP4 127.0.0.1\r\ns=-\r\n"}, None),
    ("answer", "b", "ANSWER", {"sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\n"},
     "00000000-0000-4000-8000-000000000004"),
    ("ice_candidate", "a", "ICE_CANDIDATE", {"candidate": "candidate:1 1 UDP 2122252543 "
     "127.0.0.1 50000 typ host", "sdp_mid": "0", "sdp_mline_index": 0}, None),
    ("intent", "a", "INTENT", {"task": "translate", "params": {"from": "fr", "to": "en"},
     "cost": {"amount": 0.25, "currency": "USD"}, "context": "Déjà vu — “quotes” ✓ 😀"}, None),
    ("exec_request", "a", "EXEC_REQUEST", {"args": {"text": "bonjour", "n": 1e21, "f": 1.5e-7},
     "timeout_ms": 5000}, None),
    ("exec_response", "b", "EXEC_RESPONSE", {"status": "success", "result": {"text": "hello"},
     "execution_time_ms": 12.5}, "00000000-0000-4000-8000-000000000008"),
    ("error", "b", "ERROR", {"code": "TIMEOUT", "message": "took too long"}, None),
    ("ping", "a", "PING", {"sequence": 7}, None),
    ("pong", "gateway", "PONG", {"sequence": 7}, "00000000-0000-4000-8000-00000000000b"),
    ("ack", "gateway", "ACK", {"status": "delivered", "ids": ["00000000-0000-4000-8000-000000000004"]},
     "00000000-0000-4000-8000-000000000004"),
    ("unregister", "a", "UNREGISTER", {"reason": "shutdown"}, None),
    ("register_recipient_acks", "b", "REGISTER", {"nonce": b64url_encode(bytes(range(32))),
     "capabilities": [], "metadata": {}, "recipient_acks": True}, None),
    ("recipient_ack", "b", "ACK", {"status": "received", "ids": [
     "00000000-0000-4000-8000-000000000004", "00000000-0000-4000-8000-000000000006"]}, None),
]  # fmt: skip


def build() -> dict[str, Any]:
    """Build the whole vector document."""
    keys = {"a": Identity.from_seed(SEED_A), "b": Identity.from_seed(SEED_B),
            "gateway": Identity.from_seed(SEED_GATEWAY)}  # fmt: skip
    to_of = {"a": keys["b"].did, "b": keys["a"].did, "gateway": keys["a"].did}
    gateway_bound = {"REGISTER", "PING", "UNREGISTER"}
    envelopes = []
    for n, (name, signer, type_, payload, correlation) in enumerate(CASES, start=1):
        to: str | None = to_of[signer]
        if type_ in gateway_bound or (type_ == "ACK" and signer != "gateway"):
            to = keys["gateway"].did
        if type_ == "CHALLENGE":
            to = None
        message = Message.create(
            keys[signer], type_, to, payload, correlation_id=correlation,
            id=f"00000000-0000-4000-8000-{n:012x}", timestamp=TIMESTAMP,
        )  # fmt: skip
        envelopes.append(
            {
                "name": name,
                "signer_seed": bytes(keys[signer]._signing_key).hex(),
                "envelope": message.to_dict(),
                "signing_input": message.signing_bytes().decode("utf-8"),
                "signature": message.signature,
            }
        )
    return {
        "description": "IoAP v1 envelopes signed with Ed25519 keys from fixed seeds. "
        "signing_input is the RFC 8785 canonical JSON of the envelope without 'signature'; "
        "signature is base64url (no padding) of the Ed25519 signature of its UTF-8 bytes.",
        "keys": {name: {"seed": bytes(k._signing_key).hex(), "did": k.did} for name, k in keys.items()},
        "envelopes": envelopes,
    }  # fmt: skip


def render() -> str:
    """The file content of envelopes.json."""
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    (HERE / "envelopes.json").write_text(render(), encoding="utf-8")
