"""What a client says about itself in REGISTER: its metadata and its A2A card.

:func:`register_metadata` adds ``"encrypt": true`` for a client that encrypts, asking bridges
to seal what they send it (BRIDGES.md); :func:`card_spec` picks the card the client sends
when the gateway announces its public URL (PROTOCOL.md 7.1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiconexus.protocol import AgentCardSpec, skill_of

__all__ = ["ENCRYPT_METADATA_KEY", "card_spec", "register_metadata"]

ENCRYPT_METADATA_KEY = "encrypt"
"""REGISTER metadata member by which an agent asks bridges to seal what they send it."""


def card_spec(
    agent_card: AgentCardSpec | bool,
    names: Sequence[str],
    declarations: Mapping[str, Mapping[str, Any]],
    metadata: Mapping[str, Any] | None,
) -> AgentCardSpec | None:
    """The card to send: the given spec, or one from capabilities and metadata (True).

    A declared capability's description becomes its skill's description, and its example
    ``args`` the skill's examples (as JSON text).
    """
    if isinstance(agent_card, AgentCardSpec):
        return agent_card
    if not agent_card:
        return None
    meta = metadata or {}
    name, description = meta.get("name"), meta.get("description")
    return AgentCardSpec(
        name=name if isinstance(name, str) else "",
        description=description if isinstance(description, str) else "",
        capabilities=tuple(names),
        skills={name: skill_of(info) for name, info in declarations.items()},
    )


def register_metadata(metadata: Mapping[str, Any] | None, encrypt: bool) -> dict[str, Any]:
    """The REGISTER metadata: ``metadata``, and ``"encrypt": true`` for an encrypting client."""
    announced = dict(metadata or {})
    if encrypt:
        announced.setdefault(ENCRYPT_METADATA_KEY, True)
    return announced
