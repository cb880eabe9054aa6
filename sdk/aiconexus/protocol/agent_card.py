"""The agent's A2A agent card, built and signed with the agent's own key (no I/O).

A gateway that knows its public base URL announces it in the CHALLENGE (``public_url``);
an agent then builds its A2A agent card (A2A 1.0: name, description, the JSON-RPC and
HTTP+JSON interfaces at ``<public_url>/a2a/<DID>``, streaming, bearer security, one skill per
capability) and signs it as A2A specifies: a JWS with detached payload whose ``protected``
header is ``{"alg":"EdDSA","kid":"<DID>#<key>","typ":"JOSE"}`` over the RFC 8785 bytes of
the card without ``signatures`` and without empty strings, lists and objects. The agent
sends the signed card in its REGISTER ``metadata`` under :data:`CARD_METADATA_KEY`; a bridge
serves it unchanged, so any A2A client can check that the holder of the DID made it.

>>> identity = Identity.from_seed(bytes(32))
>>> card = signed_agent_card(identity, AgentCardSpec(capabilities=("echo",)), "https://gw.example")
>>> card["supportedInterfaces"][0]["url"] == f"https://gw.example/a2a/{identity.did}"
True
>>> verify_agent_card(card, identity.did)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .capabilities import capability_from_info
from .did import b64url_decode, b64url_encode, public_key_from_did
from .ed25519 import verify_ed25519
from .errors import InvalidSignatureError
from .identity import Identity
from .jcs import canonicalize

__all__ = [
    "A2A_PROTOCOL_VERSION",
    "CARD_METADATA_KEY",
    "AgentCardSpec",
    "SkillSpec",
    "agent_card_url",
    "build_agent_card",
    "card_signing_bytes",
    "key_id",
    "sign_agent_card",
    "signed_agent_card",
    "skill_of",
    "verify_agent_card",
]

CARD_METADATA_KEY = "a2a_card"
"""The REGISTER ``metadata`` member holding the agent's signed A2A card."""

A2A_PROTOCOL_VERSION = "1.0"
"""The A2A protocol version the card's interfaces speak."""

_MODES = ["text/plain", "application/json"]


@dataclass(frozen=True, slots=True)
class SkillSpec:
    """What the card says about one capability (all optional)."""

    description: str = ""
    examples: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AgentCardSpec:
    """What goes into an agent's card besides what the gateway tells (its URL)."""

    name: str = ""
    description: str = ""
    version: str = "1.0.0"
    capabilities: tuple[str, ...] = ()
    skills: Mapping[str, SkillSpec] = field(default_factory=dict)
    """Per-capability descriptions and examples (capabilities without one get defaults)."""


def skill_of(info: Any) -> SkillSpec:
    """The skill text of a capability declared by ``info`` (a ``capability_info`` entry).

    Its description, and its example ``args`` as compact JSON text (A2A skill examples are
    strings); anything not of the declared form is left out.
    """
    declared = capability_from_info("_", info)
    examples = tuple(
        json.dumps(dict(example), separators=(",", ":"), ensure_ascii=False)
        for example in declared.examples
    )
    return SkillSpec(description=declared.description or "", examples=examples)


def key_id(did: str) -> str:
    """The DID URL of the did:key's key, used as the JWS ``kid``: ``did:key:z..#z..``."""
    return f"{did}#{did.removeprefix('did:key:')}"


def agent_card_url(public_url: str, did: str) -> str:
    """Where a bridge serves agent ``did``: ``<public_url>/a2a/<did>``."""
    return f"{public_url.rstrip('/')}/a2a/{did}"


def build_agent_card(did: str, spec: AgentCardSpec, public_url: str) -> dict[str, Any]:
    """The unsigned A2A 1.0 card (JSON, camelCase) of agent ``did`` served under ``public_url``."""
    url = agent_card_url(public_url, did)
    skills = []
    for capability in spec.capabilities:
        skill = spec.skills.get(capability, SkillSpec())
        entry: dict[str, Any] = {
            "id": capability,
            "name": capability,
            "description": skill.description or f"The capability {capability!r}.",
            "tags": list(skill.tags or (capability,)),
        }
        if skill.examples:
            entry["examples"] = list(skill.examples)
        skills.append(entry)
    card: dict[str, Any] = {
        "name": spec.name or f"AIConexus agent {did[-8:]}",
        "description": spec.description or f"The AIConexus agent {did}.",
        "version": spec.version,
        "supportedInterfaces": [
            {"url": url, "protocolBinding": binding, "protocolVersion": A2A_PROTOCOL_VERSION}
            for binding in ("JSONRPC", "HTTP+JSON")
        ],
        "capabilities": {"streaming": True},
        "securitySchemes": {
            "bearer": {"httpAuthSecurityScheme": {"scheme": "Bearer"}},
        },
        "securityRequirements": [{"schemes": {"bearer": {"list": []}}}],
        "defaultInputModes": list(_MODES),
        "defaultOutputModes": list(_MODES),
        "skills": skills,
    }
    return card


def _without_empty(value: Any) -> Any:
    """Drop empty strings, lists and objects recursively (None when nothing is left)."""
    if isinstance(value, dict):
        cleaned = {k: c for k, v in value.items() if (c := _without_empty(v)) is not None}
        return cleaned or None
    if isinstance(value, list):
        items = [c for v in value if (c := _without_empty(v)) is not None]
        return items or None
    if value == "" or value is None:
        return None
    return value


def card_signing_bytes(card: Mapping[str, Any]) -> bytes:
    """What a card signature covers (as A2A 1.0 verifiers compute it).

    The RFC 8785 bytes of the card without ``signatures``, empty strings, lists and objects.
    """
    unsigned = {k: v for k, v in card.items() if k != "signatures"}
    return canonicalize(_without_empty(unsigned) or {})


def _protected(did: str) -> str:
    header = {"alg": "EdDSA", "kid": key_id(did), "typ": "JOSE"}
    return b64url_encode(json.dumps(header, separators=(",", ":")).encode())


def sign_agent_card(card: Mapping[str, Any], identity: Identity) -> dict[str, Any]:
    """``card`` with one more signature (JWS EdDSA, ``kid`` = the identity's key id)."""
    protected = _protected(identity.did)
    payload = b64url_encode(card_signing_bytes(card))
    signature = identity.sign(f"{protected}.{payload}".encode("ascii"))
    signed = dict(card)
    signed["signatures"] = [
        *card.get("signatures", []),
        {"protected": protected, "signature": b64url_encode(signature)},
    ]
    return signed


def signed_agent_card(identity: Identity, spec: AgentCardSpec, public_url: str) -> dict[str, Any]:
    """Build the card of ``identity``'s agent and sign it (what goes into REGISTER)."""
    return sign_agent_card(build_agent_card(identity.did, spec, public_url), identity)


def verify_agent_card(card: Mapping[str, Any], did: str) -> None:
    """Raise InvalidSignatureError unless one signature of ``card`` is ``did``'s (EdDSA)."""
    signatures = card.get("signatures")
    if not isinstance(signatures, Sequence) or not signatures:
        raise InvalidSignatureError("the card has no signatures")
    payload = b64url_encode(card_signing_bytes(card))
    public_key = public_key_from_did(did)
    for entry in signatures:
        try:
            header = json.loads(b64url_decode(entry["protected"]))
            signature = b64url_decode(entry["signature"])
        except (KeyError, TypeError, ValueError):
            continue
        if not isinstance(header, dict) or header.get("alg") != "EdDSA":
            continue
        if header.get("kid") != key_id(did) or len(signature) != 64:
            continue
        signing_input = f"{entry['protected']}.{payload}".encode("ascii")
        if verify_ed25519(public_key, signing_input, signature):
            return
    raise InvalidSignatureError(f"no signature of the card verifies for {did}")
