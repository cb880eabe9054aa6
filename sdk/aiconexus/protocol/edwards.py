"""Which 32-byte strings are Ed25519 public keys that someone can own (PROTOCOL.md 3.3).

A key is usable when it is what libsodium's verification accepts as a public key: the
canonical encoding (``y`` below p = 2^255 - 19) of a point on the edwards25519 curve that is
not of small order. No signature verifies under any other key with libsodium's rules
(PROTOCOL.md 5.4), so frames addressed to such a key could never be read by an owner and
are refused. Every key made from a seed is usable.

Canonical form and small order are decided here: the eight points of small order have five
distinct ``y``, 1 (the identity), p - 1 (order 2), 0 (order 4) and the two ``y`` of the
order-8 points, computed once below. Whether the point is on the curve is libsodium's
decoding (``crypto_core_ed25519_add`` refuses a point off the curve; ~25 us, where Python's
own modular exponentiation takes ~110 us). I/O-free, cached.
"""

from __future__ import annotations

from functools import lru_cache

from nacl.bindings import crypto_core_ed25519_add

__all__ = ["SMALL_ORDER_Y", "is_usable_public_key"]

_P = 2**255 - 19
_D = (-121665 * pow(121666, _P - 2, _P)) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _sqrt(a: int) -> int | None:
    """A square root of ``a`` mod p, or None when ``a`` is not a square."""
    root = pow(a, (_P + 3) // 8, _P)
    if root * root % _P != a % _P:
        root = root * _SQRT_M1 % _P
    return root if root * root % _P == a % _P else None


def _order8_ys() -> frozenset[int]:
    """The ``y`` of the order-8 points: doubling them gives y = 0, so d y^4 + 2 y^2 - 1 = 0."""
    ys: set[int] = set()
    root = _sqrt(1 + _D)
    assert root is not None
    inverse_d = pow(_D, _P - 2, _P)
    for y_squared in ((-1 + root) * inverse_d % _P, (-1 - root) * inverse_d % _P):
        y = _sqrt(y_squared)
        if y is not None:
            ys.update({y, _P - y})
    return frozenset(ys)


SMALL_ORDER_Y: frozenset[int] = frozenset({0, 1, _P - 1}) | _order8_ys()
"""The ``y`` coordinates of the eight points of small order (the identity included)."""


@lru_cache(maxsize=16384)
def is_usable_public_key(key: bytes) -> bool:
    """True if ``key`` canonically encodes a curve point that is not of small order."""
    if len(key) != 32:
        return False
    y = int.from_bytes(key, "little") & ((1 << 255) - 1)
    if y >= _P or y in SMALL_ORDER_Y:
        return False
    try:
        crypto_core_ed25519_add(key, key)
    except RuntimeError:
        return False
    return True
