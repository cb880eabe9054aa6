"""Identities: generation, seeds, and key files written with mode 0600."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from aiconexus.protocol import Identity


def test_save_and_load(tmp_path: Path) -> None:
    """A saved key loads back to the same DID and the file is owner-only."""
    me = Identity.generate()
    path = tmp_path / "keys" / "agent.key"
    me.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = Identity.load(path)
    assert again.did == me.did
    assert again.sign(b"x") == me.sign(b"x")


def test_load_rejects_garbage(tmp_path: Path) -> None:
    """A file that is not a key file gives a clear ValueError naming the path."""
    path = tmp_path / "bad.key"
    path.write_text('{"kty": "RSA"}')
    with pytest.raises(ValueError, match=r"bad\.key"):
        Identity.load(path)


def test_load_rejects_mismatched_public_key(tmp_path: Path) -> None:
    """A key file whose public half does not match its private half is refused."""
    path = tmp_path / "k.key"
    Identity.from_seed(bytes(32)).save(path)
    other = Identity.from_seed(bytes(31) + b"\x01")
    text = path.read_text()
    from aiconexus.protocol import b64url_encode

    path.write_text(text.replace(b64url_encode(Identity.from_seed(bytes(32)).public_key),
                                 b64url_encode(other.public_key)))  # fmt: skip
    with pytest.raises(ValueError, match="does not match"):
        Identity.load(path)


def test_seed_length_checked() -> None:
    """Seeds must be 32 bytes."""
    with pytest.raises(ValueError):
        Identity.from_seed(b"short")


def test_repr_hides_key() -> None:
    """The repr shows the DID only, never key material."""
    me = Identity.from_seed(bytes(32))
    assert repr(me) == f"Identity({me.did})"
