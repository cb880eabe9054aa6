"""End-to-end encrypted payloads of peer frames: seal, open, and the shape the gateway checks.

Construction (PROTOCOL.md 8.10), ephemeral-static, one-pass, like libsodium's sealed boxes
and HPKE's base mode:

1. the recipient's X25519 key is derived from the Ed25519 key in its did:key
   (``crypto_sign_ed25519_pk_to_curve25519``), so no key exchange is needed;
2. a fresh X25519 key pair ``(esk, epk)`` per frame; ``z = X25519(esk, rpk)`` (all-zero
   refused);
3. ``key = HKDF-SHA256(ikm=z, salt=epk || rpk, info=ALG)``, 32 bytes;
4. ``ct = XChaCha20-Poly1305-IETF(key, nonce (24 random bytes), plaintext, ad)`` with the
   plaintext = the RFC 8785 bytes of the plain payload and ``ad`` = the RFC 8785 bytes of
   the frame's clear routing fields (``correlation_id`` when present, ``from``, ``id``,
   ``to``, ``type``, ``version``), so a ciphertext cannot be lifted into another frame.

The sender is authenticated by the envelope's Ed25519 signature, which covers the ciphertext
(and ``from`` is in ``ad``, so nobody can re-sign someone else's ciphertext as their own).
The payload becomes ``{"enc": {"alg", "epk", "nonce", "ct"}}``, all unpadded base64url.
Pure and I/O-free.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Protocol

from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt,
    crypto_scalarmult,
    crypto_scalarmult_base,
    crypto_sign_ed25519_pk_to_curve25519,
)
from nacl.exceptions import CryptoError

from .constants import PEER_TYPES, MessageType
from .did import b64url_decode, b64url_encode, public_key_from_did
from .errors import MalformedMessageError
from .jcs import canonicalize
from .payloads import validate_payload
from .wire import MAX_JSON_CONTAINERS, check_nesting, loads_frame

__all__ = [
    "ALG",
    "CT_MIN_CHARS",
    "EPK_CHARS",
    "NONCE_CHARS",
    "SEALABLE_TYPES",
    "DecryptionError",
    "KeyAgreement",
    "associated_data",
    "check_payload",
    "check_sealed",
    "derive_key",
    "is_sealed",
    "open_payload",
    "recipient_x25519",
    "seal_payload",
]

ALG = "X25519-HKDF-SHA256-XC20P"
"""The one value of ``enc.alg`` in IoAP v1 (also the HKDF ``info``)."""

SEALABLE_TYPES: frozenset[MessageType] = PEER_TYPES - {MessageType.PING, MessageType.PONG}
"""Peer types whose payload may be encrypted (never REGISTER, UNREGISTER, PING, PONG, ACK...)."""

EPK_CHARS = 43
"""Unpadded base64url length of the 32-byte ephemeral public key."""

NONCE_CHARS = 32
"""Unpadded base64url length of the 24-byte XChaCha20 nonce."""

CT_MIN_CHARS = 24
"""Shortest ``ct``: 16-byte tag + ``{}`` = 18 bytes = 24 characters."""

_NONCE_BYTES = 24
_ENC_KEYS = frozenset({"alg", "epk", "nonce", "ct"})
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


class DecryptionError(MalformedMessageError):
    """An encrypted payload that does not open (wrong key, tampered, malformed plaintext)."""


class KeyAgreement(Protocol):
    """What :func:`open_payload` needs of the recipient: X25519 with its own secret key."""

    def key_agreement(self, public_key: bytes) -> bytes:
        """The X25519 shared secret of this identity's key-agreement key and ``public_key``."""
        ...


def is_sealed(payload: Mapping[str, Any]) -> bool:
    """True if ``payload`` is in the encrypted form: its only member is ``enc``.

    Only meaningful for :data:`SEALABLE_TYPES` (for them a payload of only ``enc`` never fit
    the plain schema, so the form cannot be mistaken for a plain payload).
    """
    return len(payload) == 1 and "enc" in payload


def check_sealed(payload: Mapping[str, Any], max_ct_chars: int = 0) -> None:
    """MALFORMED_MESSAGE unless ``payload`` is exactly ``{"enc": {alg, epk, nonce, ct}}``.

    Checks types, the algorithm, exact lengths of ``epk`` and ``nonce`` and the base64url
    alphabet, without decoding anything. ``max_ct_chars`` (0: no bound beyond the frame's)
    bounds ``ct``. Messages never quote the values.
    """
    enc = payload.get("enc")
    if len(payload) != 1 or type(enc) is not dict:
        raise MalformedMessageError('an encrypted payload is exactly {"enc": {...}}')
    if enc.keys() != _ENC_KEYS:
        raise MalformedMessageError("enc must have exactly alg, epk, nonce and ct")
    if enc["alg"] != ALG:
        raise MalformedMessageError(f"enc.alg must be {ALG!r}")
    for name, low, high in (
        ("epk", EPK_CHARS, EPK_CHARS),
        ("nonce", NONCE_CHARS, NONCE_CHARS),
        ("ct", CT_MIN_CHARS, max_ct_chars),
    ):
        value = enc[name]
        if type(value) is not str:
            raise MalformedMessageError(f"enc.{name} must be a string")
        size = len(value)
        if size < low or (high and size > high) or size % 4 == 1:
            raise MalformedMessageError(f"enc.{name} has a wrong length ({size} characters)")
        if not _B64URL.fullmatch(value):
            raise MalformedMessageError(f"enc.{name} is not unpadded base64url")


def check_payload(message_type: MessageType, payload: dict[str, Any]) -> None:
    """The payload check of a frame: the encrypted form's shape, or its type's plain schema."""
    if message_type in SEALABLE_TYPES and is_sealed(payload):
        check_sealed(payload)
    else:
        validate_payload(message_type, payload)


def associated_data(envelope: Mapping[str, Any]) -> bytes:
    """RFC 8785 bytes of the clear routing fields that the AEAD authenticates.

    ``correlation_id`` (only when it is a string), ``from``, ``id``, ``to``, ``type`` and
    ``version``; not ``timestamp`` (a frame re-sent later is re-stamped and re-signed, not
    re-encrypted) and not the signature.
    """
    fields = {name: envelope[name] for name in ("from", "id", "to", "type", "version")}
    correlation = envelope.get("correlation_id")
    if isinstance(correlation, str):
        fields["correlation_id"] = correlation
    return canonicalize(fields)


@lru_cache(maxsize=4096)
def recipient_x25519(did: str) -> bytes:
    """The X25519 public key of a did:key (its Ed25519 key, mapped as the did:key spec does).

    MalformedMessageError when the DID's key is not a valid Ed25519 point.
    """
    try:
        return crypto_sign_ed25519_pk_to_curve25519(public_key_from_did(did))
    except (CryptoError, RuntimeError, ValueError):
        raise MalformedMessageError("the recipient's did:key is not a usable key") from None


def derive_key(shared: bytes, epk: bytes, rpk: bytes) -> bytes:
    """HKDF-SHA256 (RFC 5869): ikm = ``shared``, salt = ``epk || rpk``, info = ALG; 32 bytes."""
    prk = hmac.digest(epk + rpk, shared, hashlib.sha256)
    return hmac.digest(prk, ALG.encode("ascii") + b"\x01", hashlib.sha256)


def seal_payload(
    payload: Mapping[str, Any],
    envelope: Mapping[str, Any],
    *,
    ephemeral_secret: bytes | None = None,
    nonce: bytes | None = None,
) -> dict[str, Any]:
    """The encrypted form of ``payload`` for the frame whose routing fields are ``envelope``.

    ``envelope`` holds ``version``, ``id``, ``type``, ``from``, ``to`` (the recipient's
    did:key) and optionally ``correlation_id``. ``ephemeral_secret`` and ``nonce`` are
    random unless given (test vectors only: never reuse them).
    """
    try:
        plaintext = canonicalize(dict(payload))
    except ValueError as exc:
        raise MalformedMessageError(f"payload is not I-JSON: {exc}") from None
    rpk = recipient_x25519(str(envelope["to"]))
    esk = os.urandom(32) if ephemeral_secret is None else ephemeral_secret
    epk = crypto_scalarmult_base(esk)
    nonce = os.urandom(_NONCE_BYTES) if nonce is None else nonce
    if len(esk) != 32 or len(nonce) != _NONCE_BYTES:
        raise ValueError("the ephemeral secret has 32 bytes and the nonce 24")
    try:
        shared = crypto_scalarmult(esk, rpk)
    except RuntimeError:
        raise MalformedMessageError("the recipient's key gives no shared secret") from None
    key = derive_key(shared, epk, rpk)
    ct = crypto_aead_xchacha20poly1305_ietf_encrypt(
        plaintext, associated_data(envelope), nonce, key
    )
    return {
        "enc": {
            "alg": ALG,
            "epk": b64url_encode(epk),
            "nonce": b64url_encode(nonce),
            "ct": b64url_encode(ct),
        }
    }


def open_payload(envelope: Mapping[str, Any], recipient: KeyAgreement) -> dict[str, Any]:
    """The plain payload of a received encrypted frame (the whole envelope object).

    Checks the form, decrypts with ``recipient``'s key, parses the plaintext (strict JSON
    within the frame's nesting bounds, an object) and checks it against the frame type's
    schema. Raises :class:`DecryptionError` for anything that does not open, and
    MalformedMessageError for a plaintext that does not fit the type's schema.
    """
    payload = envelope["payload"]
    try:
        check_sealed(payload)
        enc = payload["enc"]
        epk = b64url_decode(enc["epk"])
        nonce = b64url_decode(enc["nonce"])
        ct = b64url_decode(enc["ct"])
        rpk = recipient_x25519(str(envelope["to"]))
    except (MalformedMessageError, ValueError) as exc:
        raise DecryptionError(f"encrypted payload: {exc}") from None
    try:
        shared = recipient.key_agreement(epk)
        key = derive_key(shared, epk, rpk)
        plaintext = crypto_aead_xchacha20poly1305_ietf_decrypt(
            ct, associated_data(envelope), nonce, key
        )
    except (CryptoError, RuntimeError, ValueError):
        raise DecryptionError("encrypted payload does not open with this key") from None
    try:
        value = loads_frame(plaintext)  # strict: no duplicate keys, an object
        check_nesting(value, level=2, max_containers=MAX_JSON_CONTAINERS)
    except MalformedMessageError as exc:
        raise DecryptionError(f"decrypted payload: {exc.message}") from None
    validate_payload(MessageType(envelope["type"]), value)
    return value
