"""Outbound A2A: AIConexus agents call external A2A agents (A2A_REMOTE_AGENTS) by DID."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

pytest.importorskip("a2a", reason="the A2A bridge tests need the a2a extra")

from a2a.types import AgentCard
from a2a.utils.signing import create_agent_card_signer
from jwt.api_jwk import PyJWK
from support.waiting import eventually

from aiconexus import GatewayClient, Identity, RemoteExecutionError
from aiconexus.protocol import key_id
from aiconexus.protocol.did import b64url_encode
from aiconexus_gateway.bridges.a2a.remote import proxy_identity
from aiconexus_gateway.bridges.callers import load_or_create_secret

from .a2a_server import serve_a2a_agent
from .conftest import StartA2AGateway


def did_key_signer(identity: Identity, seed: bytes):  # type: ignore[no-untyped-def]
    """a2a-sdk's card signer with the Ed25519 key of ``identity`` (kid = its DID key id)."""
    jwk = {
        "kty": "OKP",
        "crv": "Ed25519",
        "d": b64url_encode(seed),
        "x": b64url_encode(identity.public_key),
    }
    header = {"alg": "EdDSA", "kid": key_id(identity.did), "typ": "JOSE", "jku": None}
    return create_agent_card_signer(PyJWK(jwk, algorithm="EdDSA"), header)  # type: ignore[arg-type]


async def test_an_agent_calls_an_external_a2a_agent_by_did(
    start_a2a_gateway: StartA2AGateway, tmp_path: Path
) -> None:
    """The proxy DID lists the card's skills; request() gets the remote result, signed by it."""
    seed = bytes(range(32))
    signer = did_key_signer(Identity.from_seed(seed), seed)
    async with serve_a2a_agent(signer) as url:
        secret_file = tmp_path / "bridge.secret"
        proxy = proxy_identity(load_or_create_secret(secret_file), url)
        gateway = start_a2a_gateway(BRIDGE_SECRET_FILE=str(secret_file), A2A_REMOTE_AGENTS=url)

        def listed() -> dict[str, dict[str, object]]:
            return {a["did"]: a for a in gateway.agents()}

        await eventually(lambda: proxy.did in listed(), within=15)
        assert listed()[proxy.did]["capabilities"] == ["shout", "sum"]
        async with GatewayClient(gateway.ws_url, Identity.generate()) as client:
            answer = await client.request(proxy.did, {"text": "hello"}, timeout=15)
            assert answer.from_ == proxy.did and answer.payload["result"] == "HELLO!"
            answer = await client.request(proxy.did, {"numbers": [1, 2, 3]}, timeout=15)
            assert answer.payload["result"] == {"sum": 6}
            with pytest.raises(RemoteExecutionError, match="FAILED: cannot shout that"):
                await client.request(proxy.did, {"text": "fail"}, timeout=15)
            with pytest.raises(RemoteExecutionError, match="INPUT_REQUIRED: what"):
                await client.request(proxy.did, {"text": "ask me"}, timeout=15)


async def test_a_remote_card_with_a_bad_signature_is_refused(
    start_a2a_gateway: StartA2AGateway, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A card changed after signing: no proxy is registered, and the log says why."""
    seed = bytes(32)
    signer = did_key_signer(Identity.from_seed(seed), seed)

    def signed_then_changed(card: AgentCard) -> AgentCard:
        card = signer(card)
        card.description = "Changed after signing."
        return card

    caplog.set_level(logging.WARNING, logger="aiconexus.bridge.a2a")
    async with serve_a2a_agent(signed_then_changed) as url:
        secret_file = tmp_path / "bridge.secret"
        proxy = proxy_identity(load_or_create_secret(secret_file), url)
        gateway = start_a2a_gateway(BRIDGE_SECRET_FILE=str(secret_file), A2A_REMOTE_AGENTS=url)
        await eventually(lambda: "No valid signature" in caplog.text, within=10)
        assert "cannot use its card" in caplog.text
        agents = await asyncio.to_thread(gateway.agents)
        assert proxy.did not in json.dumps(agents)
