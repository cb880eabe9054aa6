"""Regenerate ed25519-edges.json: Ed25519 signatures that ZIP-215 accepts and IoAP refuses.

Project Wycheproof's suite (wycheproof/) signs with ordinary keys. These cases add what it
lacks: keys and ``R`` of small order, and encodings that are not canonical. The rules of
ZIP-215 (the default verification mode of some common Ed25519 libraries) accept every one
of them; libsodium's rules (PROTOCOL.md 5.1) refuse every one. The first is a forgery: the
did:key of the identity point "signs" any message with R = identity and S = 0, so an
implementation that verifies with ZIP-215 rules accepts frames nobody signed.

Run: .venv/bin/python tests/vectors/generate_ed25519_edges.py  (deterministic; the test suite
checks the committed file against this generator). The point arithmetic below is a plain
reading of RFC 8032 and ZIP-215, independent of the aiconexus package.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "ed25519-edges.json"

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = (-121665 * pow(121666, P - 2, P)) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)
Point = tuple[int, int, int, int]  # extended coordinates X, Y, Z, T
IDENTITY: Point = (0, 1, 1, 0)
BASE_Y = 4 * pow(5, P - 2, P) % P

SEED_A = bytes(31) + b"\x01"
SEED_B = bytes(31) + b"\x02"
TIMESTAMP = "2026-11-26T09:17:09.123Z"
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _add(p: Point, q: Point) -> Point:
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = 2 * t1 * t2 * D % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _mul(scalar: int, point: Point) -> Point:
    result = IDENTITY
    while scalar:
        if scalar & 1:
            result = _add(result, point)
        point = _add(point, point)
        scalar >>= 1
    return result


def _is_identity(point: Point) -> bool:
    x, y, z, _ = point
    return x % P == 0 and (y - z) % P == 0


def _decode_zip215(data: bytes) -> Point | None:
    """ZIP-215 decoding: y may be >= p (it is reduced), x = 0 with the sign bit set is taken."""
    value = int.from_bytes(data, "little")
    sign, y = value >> 255, (value & ((1 << 255) - 1)) % P
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
    if v * x * x % P == (-u) % P:
        x = x * SQRT_M1 % P
    if v * x * x % P != u:
        return None
    if x & 1 != sign:
        x = (-x) % P
    return (x, y, 1, x * y % P)


def _encode(point: Point) -> bytes:
    x, y, z, _ = point
    inverse = pow(z, P - 2, P)
    x, y = x * inverse % P, y * inverse % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def zip215_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """ZIP-215: S < L, A and R any encodings of points, and [8](S·B - R - k·A) = identity."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    a, r = _decode_zip215(public_key), _decode_zip215(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if a is None or r is None or s >= L:
        return False
    base = _decode_zip215(BASE_Y.to_bytes(32, "little"))
    assert base is not None
    k = int.from_bytes(hashlib.sha512(signature[:32] + public_key + message).digest(), "little")

    def neg(q: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        return ((-q[0]) % P, q[1], q[2], (-q[3]) % P)

    check = _add(_add(_mul(s, base), neg(r)), neg(_mul(k % L, a)))
    return _is_identity(_mul(8, check))


def libsodium_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Libsodium's verdict (PyNaCl's ``crypto_sign_open``)."""
    try:
        crypto_sign_open(signature + message, public_key)
    except BadSignatureError:
        return False
    return True


def _order8_point() -> Point:
    """A point of order 8: the 8-torsion component of a y that decodes to a mixed-order point."""
    y = 2
    while True:
        point = _decode_zip215(y.to_bytes(32, "little"))
        if point is not None:
            torsion = _mul(L, point)  # kills the prime-order part
            if not _is_identity(_mul(4, torsion)):
                return torsion
        y += 1


def _did(public_key: bytes) -> str:
    data = b"\xed\x01" + public_key
    number, text = int.from_bytes(data, "big"), ""
    while number:
        number, rem = divmod(number, 58)
        text = _B58[rem] + text
    return "did:key:z" + "1" * (len(data) - len(data.lstrip(b"\0"))) + text


def _jcs_ascii(value: dict[str, Any]) -> bytes:
    """RFC 8785 for these all-ASCII string members (sorted, compact, no escapes needed)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode("ascii")


def _b64url(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _signed_by_a(r_point_bytes: bytes, message: bytes) -> bytes:
    """S = k·a with R given: the equation holds up to R's small-order part (a's own scalar)."""
    digest = hashlib.sha512(SEED_A).digest()
    scalar = int.from_bytes(digest[:32], "little")
    scalar &= (1 << 254) - 8
    scalar |= 1 << 254
    public_key = bytes(SigningKey(SEED_A).verify_key)
    k = int.from_bytes(hashlib.sha512(r_point_bytes + public_key + message).digest(), "little")
    return r_point_bytes + (k * scalar % L).to_bytes(32, "little")


def build() -> dict[str, Any]:
    """The whole file: the forged envelope and the raw cases."""
    identity = _encode(IDENTITY)
    order8 = _encode(_order8_point())
    identity_non_canonical = (P + 1).to_bytes(32, "little")
    zero = bytes(32)
    forged_did = _did(identity)
    unsigned = {
        "version": "1.0",
        "id": "00000000-0000-4000-8000-0000000000f1",
        "type": "REGISTER",
        "from": forged_did,
        "to": _did(bytes(SigningKey(bytes(31) + b"\x03").verify_key)),
        "timestamp": TIMESTAMP,
        "payload": {"nonce": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", "capabilities": []},
    }
    signing_input = _jcs_ascii(unsigned)
    forged_signature = identity + zero
    envelope = {**unsigned, "signature": _b64url(forged_signature)}
    message = b"IoAP edge case"
    key_a = bytes(SigningKey(SEED_A).verify_key)
    raw = [
        (
            "small_order_key_identity",
            "A = identity, R = identity, S = 0: verifies for any message under ZIP-215",
            identity,
            message,
            identity + zero,
        ),
        (
            "small_order_key_order_8",
            "A of order 8, R = identity, S = 0: [8]A is the identity",
            order8,
            message,
            identity + zero,
        ),
        (
            "non_canonical_key",
            "A = identity encoded with y = p + 1 (not canonical), R = identity, S = 0",
            identity_non_canonical,
            message,
            identity + zero,
        ),
        (
            "non_canonical_r",
            "key a (seed 00…01), R = identity encoded with y = p + 1, S = k·a",
            key_a,
            message,
            _signed_by_a(identity_non_canonical, message),
        ),
        (
            "small_order_r",
            "key a (seed 00…01), R of order 8, S = k·a: only the cofactored equation holds",
            key_a,
            message,
            _signed_by_a(order8, message),
        ),
    ]
    cases = []
    for name, why, public_key, msg, signature in raw:
        assert zip215_verify(public_key, msg, signature), name
        assert not libsodium_verify(public_key, msg, signature), name
        cases.append(
            {
                "name": name,
                "why": why,
                "public_key": public_key.hex(),
                "message": msg.hex(),
                "signature": signature.hex(),
                "zip215": "valid",
                "result": "invalid",
            }
        )
    honest = SigningKey(SEED_A).sign(message).signature  # the reference verifier is no rubber stamp
    assert zip215_verify(key_a, message, honest) and libsodium_verify(key_a, message, honest)
    assert not zip215_verify(key_a, message + b"!", honest)
    assert zip215_verify(identity, signing_input, forged_signature)
    assert not libsodium_verify(identity, signing_input, forged_signature)
    return {
        "description": "Ed25519 signatures that ZIP-215 accepts and IoAP (libsodium's rules, "
        "PROTOCOL.md 5.1) refuses: `result` is the IoAP verdict, `zip215` the ZIP-215 one",
        "forged_envelope": {
            "why": "a REGISTER 'signed' by the did:key of the identity point with R = identity "
            "and S = 0; any message verifies so under ZIP-215, nobody signed it",
            "envelope": envelope,
            "signing_input": signing_input.decode("ascii"),
            "zip215": "valid",
            "result": "invalid",
        },
        "cases": cases,
    }


def render() -> str:
    """The file's text."""
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    OUTPUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUTPUT}")
