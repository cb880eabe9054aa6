"""End-to-end encrypted payloads (PROTOCOL.md 8.10), written from the specification alone.

Independent of the aiconexus package: the Ed25519 -> X25519 mapping (the birational map
``u = (1 + y) / (1 - y) mod p``), the X25519 secret from the seed (SHA-512, clamped),
HKDF-SHA256 and HChaCha20 (for XChaCha20) are computed here; PyNaCl supplies only the raw
primitives X25519 (``crypto_scalarmult``) and ChaCha20-Poly1305-IETF with a 12-byte nonce.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import struct
from typing import Any

from nacl.bindings import (
    crypto_aead_chacha20poly1305_ietf_decrypt,
    crypto_aead_chacha20poly1305_ietf_encrypt,
    crypto_scalarmult,
    crypto_scalarmult_base,
)

from interop.minimal_client import (
    Keypair,
    b64url_decode,
    b64url_encode,
    canonical_json,
    public_key_from_did,
)

__all__ = [
    "ALG",
    "associated_data",
    "hchacha20",
    "hkdf_sha256",
    "open_envelope",
    "parse_plaintext",
    "seal",
    "shared_secret",
    "x25519_public_from_did",
    "x25519_secret_from_seed",
    "xchacha20poly1305_decrypt",
    "xchacha20poly1305_encrypt",
]

ALG = "X25519-HKDF-SHA256-XC20P"
P = 2**255 - 19
MASK32 = 0xFFFFFFFF
MAX_DEPTH = 32  # 8.7: the envelope is level 1, so a payload (level 2) nests at most 31 levels
MAX_CONTAINERS = 16384  # 8.7: objects and arrays, counted in the plaintext alone (8.10)


def x25519_public_from_did(did: str) -> bytes:
    """The recipient's X25519 key: u = (1 + y) / (1 - y) mod p of its Ed25519 key."""
    y = int.from_bytes(public_key_from_did(did), "little") & ((1 << 255) - 1)
    u = (1 + y) * pow((1 - y) % P, P - 2, P) % P
    return u.to_bytes(32, "little")


def x25519_secret_from_seed(seed: bytes) -> bytes:
    """The X25519 secret of an Ed25519 seed: the first half of SHA-512(seed), clamped."""
    scalar = bytearray(hashlib.sha512(seed).digest()[:32])
    scalar[0] &= 248
    scalar[31] &= 127
    scalar[31] |= 64
    return bytes(scalar)


def hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int = 32) -> bytes:
    """RFC 5869 HKDF with SHA-256."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def _rotl(value: int, count: int) -> int:
    return ((value << count) | (value >> (32 - count))) & MASK32


def _quarter(s: list[int], a: int, b: int, c: int, d: int) -> None:
    s[a] = (s[a] + s[b]) & MASK32
    s[d] = _rotl(s[d] ^ s[a], 16)
    s[c] = (s[c] + s[d]) & MASK32
    s[b] = _rotl(s[b] ^ s[c], 12)
    s[a] = (s[a] + s[b]) & MASK32
    s[d] = _rotl(s[d] ^ s[a], 8)
    s[c] = (s[c] + s[d]) & MASK32
    s[b] = _rotl(s[b] ^ s[c], 7)


def hchacha20(key: bytes, nonce16: bytes) -> bytes:
    """HChaCha20 (draft-irtf-cfrg-xchacha section 2.2): a 32-byte subkey."""
    state = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574]
    state += list(struct.unpack("<8I", key)) + list(struct.unpack("<4I", nonce16))
    for _ in range(10):
        _quarter(state, 0, 4, 8, 12)
        _quarter(state, 1, 5, 9, 13)
        _quarter(state, 2, 6, 10, 14)
        _quarter(state, 3, 7, 11, 15)
        _quarter(state, 0, 5, 10, 15)
        _quarter(state, 1, 6, 11, 12)
        _quarter(state, 2, 7, 8, 13)
        _quarter(state, 3, 4, 9, 14)
    return struct.pack("<8I", *(state[0:4] + state[12:16]))


def xchacha20poly1305_encrypt(key: bytes, nonce: bytes, plaintext: bytes, ad: bytes) -> bytes:
    """XChaCha20-Poly1305-IETF: ChaCha20-Poly1305 with HChaCha20(key, nonce[:16])."""
    subkey = hchacha20(key, nonce[:16])
    return crypto_aead_chacha20poly1305_ietf_encrypt(plaintext, ad, bytes(4) + nonce[16:], subkey)


def xchacha20poly1305_decrypt(key: bytes, nonce: bytes, ct: bytes, ad: bytes) -> bytes:
    """Inverse of :func:`xchacha20poly1305_encrypt`; raises when the tag does not verify."""
    subkey = hchacha20(key, nonce[:16])
    return crypto_aead_chacha20poly1305_ietf_decrypt(ct, ad, bytes(4) + nonce[16:], subkey)


def associated_data(envelope: dict[str, Any]) -> bytes:
    """JCS of correlation_id (when a string), from, id, to, type, version."""
    fields = {k: envelope[k] for k in ("from", "id", "to", "type", "version")}
    if isinstance(envelope.get("correlation_id"), str):
        fields["correlation_id"] = envelope["correlation_id"]
    return canonical_json(fields)


def seal(
    routing: dict[str, Any],
    payload: dict[str, Any],
    *,
    ephemeral_secret: bytes | None = None,
    nonce: bytes | None = None,
) -> dict[str, Any]:
    """The encrypted payload ``{"enc": ...}`` of ``payload`` for the frame ``routing``."""
    esk = ephemeral_secret or os.urandom(32)
    nonce = nonce or os.urandom(24)
    epk = crypto_scalarmult_base(esk)
    rpk = x25519_public_from_did(routing["to"])
    key = hkdf_sha256(shared_secret(esk, rpk), epk + rpk, ALG.encode())
    ct = xchacha20poly1305_encrypt(key, nonce, canonical_json(payload), associated_data(routing))
    return {
        "enc": {
            "alg": ALG,
            "epk": b64url_encode(epk),
            "nonce": b64url_encode(nonce),
            "ct": b64url_encode(ct),
        }
    }


def shared_secret(secret: bytes, public: bytes) -> bytes:
    """X25519; an all-zero result (a low-order ``public``) is refused, by senders and recipients."""
    try:
        shared = crypto_scalarmult(secret, public)
    except RuntimeError:  # PyNaCl's own refusal of the all-zero result
        shared = bytes(32)
    if shared == bytes(32):
        raise ValueError("all-zero shared secret")
    return shared


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate JSON keys in the plaintext")
    return result


def parse_plaintext(plain: bytes) -> dict[str, Any]:
    """The decrypted payload: strict JSON, an object, within the bounds of 8.7 from level 2."""
    value = json.loads(plain.decode("utf-8"), object_pairs_hook=_no_duplicates)
    if not isinstance(value, dict):
        raise ValueError("the plaintext is not a JSON object")
    layer: list[Any] = [value]
    depth, containers = 2, 0
    while layer:
        if depth > MAX_DEPTH:
            raise ValueError(f"the plaintext nests deeper than level {MAX_DEPTH}")
        containers += len(layer)
        if containers > MAX_CONTAINERS:
            raise ValueError(f"the plaintext holds more than {MAX_CONTAINERS} objects/arrays")
        layer = [
            child
            for node in layer
            for child in (node.values() if isinstance(node, dict) else node)
            if isinstance(child, dict | list)
        ]
        depth += 1
    return value


def open_envelope(keys: Keypair, envelope: dict[str, Any]) -> dict[str, Any]:
    """The plain payload of a received (already verified) encrypted frame; raises if not."""
    enc = envelope["payload"]["enc"]
    if set(enc) != {"alg", "epk", "nonce", "ct"} or enc["alg"] != ALG:
        raise ValueError("not an encrypted payload of this algorithm")
    epk, nonce = b64url_decode(enc["epk"]), b64url_decode(enc["nonce"])
    if len(epk) != 32 or len(nonce) != 24:
        raise ValueError("wrong epk or nonce length")
    secret = x25519_secret_from_seed(bytes(keys.signing_key))
    rpk = x25519_public_from_did(envelope["to"])
    key = hkdf_sha256(shared_secret(secret, epk), epk + rpk, ALG.encode())
    plain = xchacha20poly1305_decrypt(
        key, nonce, b64url_decode(enc["ct"]), associated_data(envelope)
    )
    return parse_plaintext(plain)
