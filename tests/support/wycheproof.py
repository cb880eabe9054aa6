"""Project Wycheproof's Ed25519 verify cases (tests/vectors/wycheproof), as plain tuples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

__all__ = ["WycheproofCase", "load_cases"]

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "wycheproof" / "ed25519_test.json"


class WycheproofCase(NamedTuple):
    """One verify case: key, message, signature and whether it must verify."""

    tc_id: int
    public_key: bytes
    message: bytes
    signature: bytes
    valid: bool
    flags: tuple[str, ...]


def load_cases() -> list[WycheproofCase]:
    """Every case of the suite, in file order."""
    suite = json.loads(VECTORS.read_text(encoding="utf-8"))
    cases = []
    for group in suite["testGroups"]:
        key = bytes.fromhex(group["publicKey"]["pk"])
        for test in group["tests"]:
            assert test["result"] in ("valid", "invalid"), test
            cases.append(
                WycheproofCase(
                    test["tcId"],
                    key,
                    bytes.fromhex(test["msg"]),
                    bytes.fromhex(test["sig"]),
                    test["result"] == "valid",
                    tuple(test["flags"]),
                )
            )
    return cases
