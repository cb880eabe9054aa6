"""Usable Ed25519 public keys: canonical, on the curve, not of small order (PROTOCOL.md 3.3)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from nacl.signing import SigningKey

from aiconexus.protocol import Identity, did_from_public_key, is_valid_did
from aiconexus.protocol.edwards import SMALL_ORDER_Y, is_usable_public_key

P = 2**255 - 19
D = (-121665 * pow(121666, P - 2, P)) % P


def _on_curve(y: int) -> bool:
    """Euler's criterion: some x has x^2 = (y^2 - 1) / (d y^2 + 1) mod p."""
    u = (y * y - 1) % P
    v = (D * y * y + 1) % P
    return u == 0 or pow(u * v % P, (P - 1) // 2, P) == 1


def _encode(y: int, sign: int = 0) -> bytes:
    return (y | (sign << 255)).to_bytes(32, "little")


def test_seeded_keys_are_usable() -> None:
    """Every key made from a seed is usable, and its DID valid."""
    for seed in (bytes(32), bytes(31) + b"\x01", b"\xff" * 32):
        identity = Identity.from_seed(seed)
        assert is_usable_public_key(identity.public_key)
        assert is_valid_did(identity.did)
    assert is_usable_public_key(bytes(SigningKey.generate().verify_key))


def test_the_eight_small_order_points_are_refused() -> None:
    """Identity, order 2, order 4 and the order-8 points: five y, both signs."""
    assert len(SMALL_ORDER_Y) == 5
    for y in SMALL_ORDER_Y:
        assert _on_curve(y)
        for sign in (0, 1):
            assert not is_usable_public_key(_encode(y, sign))
            assert not is_valid_did(did_from_public_key(_encode(y, sign)))


def test_non_canonical_encodings_are_refused() -> None:
    """A y of p or more (p .. 2^255 - 1) is never a usable encoding, even where y - p is a point."""
    for y in range(P, 2**255):
        assert not is_usable_public_key(_encode(y))


@given(st.binary(min_size=32, max_size=32))
def test_agrees_with_eulers_criterion(key: bytes) -> None:
    """Any 32 bytes: usable exactly when canonical, on the curve and not of small order."""
    y = int.from_bytes(key, "little") & ((1 << 255) - 1)
    expected = y < P and y not in SMALL_ORDER_Y and _on_curve(y)
    assert is_usable_public_key(key) == expected
