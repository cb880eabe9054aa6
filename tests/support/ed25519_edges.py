"""The Ed25519 cases ZIP-215 accepts and IoAP refuses (tests/vectors/ed25519-edges.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

__all__ = ["EdgeCase", "FILE", "forged_envelope", "load_edge_cases"]

FILE = Path(__file__).resolve().parents[1] / "vectors" / "ed25519-edges.json"


class EdgeCase(NamedTuple):
    """One raw verify case; every one must be refused."""

    name: str
    public_key: bytes
    message: bytes
    signature: bytes


def _data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(FILE.read_text(encoding="utf-8"))
    return data


def load_edge_cases() -> list[EdgeCase]:
    """Every raw case, in file order."""
    return [
        EdgeCase(
            case["name"],
            bytes.fromhex(case["public_key"]),
            bytes.fromhex(case["message"]),
            bytes.fromhex(case["signature"]),
        )
        for case in _data()["cases"]
    ]


def forged_envelope() -> dict[str, Any]:
    """The REGISTER 'signed' by the identity point's did:key (R = identity, S = 0)."""
    envelope: dict[str, Any] = _data()["forged_envelope"]["envelope"]
    return envelope
