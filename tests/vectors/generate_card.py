"""Regenerate a2a-card.json: an agent's A2A card signed with its own key (BRIDGES.md).

Run: .venv/bin/python tests/vectors/generate_card.py  (a fixed seed and Ed25519's
deterministic signatures make the output stable; the test suite checks the committed file
against this generator). Each case shows the card, the bytes its signature covers, the JWS
protected header, the signing input and the signed card.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiconexus.protocol import (
    AgentCardSpec,
    Identity,
    SkillSpec,
    b64url_encode,
    build_agent_card,
    card_signing_bytes,
    key_id,
    sign_agent_card,
)

HERE = Path(__file__).resolve().parent
SEED = bytes(31) + b"\x01"
PUBLIC_URL = "https://gateway.example"

CASES: list[tuple[str, AgentCardSpec]] = [
    ("minimal", AgentCardSpec(capabilities=("echo",))),
    (
        "described",
        AgentCardSpec(
            name="Traducteur — “déjà vu” ✓",
            description="Translates text.",
            version="2.1.0",
            capabilities=("translate", "detect"),
            skills={
                "translate": SkillSpec(
                    description="Translates between languages.",
                    examples=("translate 'bonjour' to English",),
                    tags=("language", "text"),
                )
            },
        ),
    ),
]


def generate() -> dict[str, Any]:
    """Every case, computed."""
    identity = Identity.from_seed(SEED)
    cases = []
    for name, spec in CASES:
        card = build_agent_card(identity.did, spec, PUBLIC_URL)
        signed = sign_agent_card(card, identity)
        protected = signed["signatures"][0]["protected"]
        payload = b64url_encode(card_signing_bytes(card))
        cases.append(
            {
                "name": name,
                "card": card,
                "signed_bytes": card_signing_bytes(card).decode(),
                "protected_header": {"alg": "EdDSA", "kid": key_id(identity.did), "typ": "JOSE"},
                "protected": protected,
                "signing_input": f"{protected}.{payload}",
                "signed_card": signed,
            }
        )
    return {
        "description": "A2A agent cards signed by the agent's did:key (JWS, EdDSA, detached "
        "payload: the RFC 8785 bytes of the card without signatures and empty values)",
        "seed": SEED.hex(),
        "did": identity.did,
        "public_url": PUBLIC_URL,
        "cases": cases,
    }


def main() -> None:
    """Write a2a-card.json."""
    text = json.dumps(generate(), indent=2, ensure_ascii=False) + "\n"
    (HERE / "a2a-card.json").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
