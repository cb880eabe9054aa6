"""The A2A card an agent signs itself: the committed vectors, the checks, the handshake."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from aiconexus.protocol import (
    CARD_METADATA_KEY,
    AgentCardSpec,
    ClientHandshake,
    Identity,
    IdentityFrames,
    InvalidSignatureError,
    Message,
    ServerHandshake,
    card_signing_bytes,
    signed_agent_card,
    verify_agent_card,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
VECTOR = json.loads((VECTORS / "a2a-card.json").read_text(encoding="utf-8"))


def test_the_committed_vectors_are_what_the_generator_computes() -> None:
    """tests/vectors/a2a-card.json matches the code (regenerate with generate_card.py)."""
    spec = importlib.util.spec_from_file_location("gen_card", VECTORS / "generate_card.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.generate() == VECTOR


@pytest.mark.parametrize("case", VECTOR["cases"], ids=lambda case: case["name"])
def test_each_vector_verifies_and_a_changed_byte_does_not(case: dict[str, Any]) -> None:
    """The signed card verifies for its DID only; any change of content breaks it."""
    signed = case["signed_card"]
    assert card_signing_bytes(signed).decode() == case["signed_bytes"]
    verify_agent_card(signed, VECTOR["did"])
    with pytest.raises(InvalidSignatureError):
        verify_agent_card(signed, Identity.generate().did)
    changed = json.loads(json.dumps(signed).replace("gateway.example", "gateway.exampld"))
    with pytest.raises(InvalidSignatureError):
        verify_agent_card(changed, VECTOR["did"])
    with pytest.raises(InvalidSignatureError):
        verify_agent_card({k: v for k, v in signed.items() if k != "signatures"}, VECTOR["did"])


def test_empty_values_do_not_change_what_is_signed() -> None:
    """Empty strings, lists and objects are left out of the signed bytes (as A2A verifiers)."""
    card = signed_agent_card(Identity.generate(), AgentCardSpec(), "https://gw.example")
    padded = {**card, "iconUrl": "", "extra": {"empty": []}}
    assert card_signing_bytes(padded) == card_signing_bytes(card)


def test_the_register_carries_a_card_only_when_the_gateway_announces_its_url() -> None:
    """CHALLENGE public_url -> REGISTER metadata a2a_card, signed by the agent; else none."""
    gateway, agent = Identity.generate(), Identity.generate()
    for public_url, expected in (("https://gw.example", True), (None, False)):
        server = ServerHandshake(IdentityFrames(gateway), public_url=public_url)
        client = ClientHandshake(
            agent, capabilities=["echo"], agent_card=AgentCardSpec(capabilities=("echo",))
        )
        register = client.receive_challenge(server.challenge())
        assert isinstance(register, Message)
        metadata = register.payload["metadata"]
        assert (CARD_METADATA_KEY in metadata) is expected
        if expected:
            card = metadata[CARD_METADATA_KEY]
            verify_agent_card(card, agent.did)
            assert card["supportedInterfaces"][0]["url"] == f"https://gw.example/a2a/{agent.did}"
