"""Encrypted frames with any plaintext bytes or any shared secret, to test what recipients refuse.

A sender that follows PROTOCOL.md 8.10 cannot produce these (it seals a JSON payload that fits
its schema, and refuses an all-zero shared secret); a hostile one can.
"""

from __future__ import annotations

import os
from typing import Any

from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_encrypt,
    crypto_scalarmult,
    crypto_scalarmult_base,
)

from aiconexus.protocol import Identity, b64url_encode
from aiconexus.protocol.sealed import ALG, associated_data, derive_key, recipient_x25519

__all__ = ["LOW_ORDER_X25519", "craft_sealed"]

LOW_ORDER_X25519 = (0).to_bytes(32, "little")
"""An X25519 public key of low order: every secret gives the all-zero shared secret with it."""


def craft_sealed(
    sender: Identity,
    recipient: Identity,
    plaintext: bytes,
    *,
    type: str = "INTENT",
    epk: bytes | None = None,
) -> dict[str, Any]:
    """An (unsigned) INTENT envelope whose ``enc`` opens to ``plaintext`` for ``recipient``.

    With ``epk`` given, the key is derived from the shared secret a recipient would compute
    with it: for :data:`LOW_ORDER_X25519` that is all zeros.
    """
    routing: dict[str, Any] = {
        "version": "1.0",
        "id": os.urandom(8).hex(),
        "type": type,
        "from": sender.did,
        "to": recipient.did,
    }
    rpk = recipient_x25519(recipient.did)
    if epk is None:
        esk = os.urandom(32)
        epk = crypto_scalarmult_base(esk)
        shared = crypto_scalarmult(esk, rpk)
    else:
        shared = bytes(32)
    nonce = os.urandom(24)
    key = derive_key(shared, epk, rpk)
    ct = crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, associated_data(routing), nonce, key)
    enc = {
        "alg": ALG,
        "epk": b64url_encode(epk),
        "nonce": b64url_encode(nonce),
        "ct": b64url_encode(ct),
    }
    return {**routing, "timestamp": "2026-11-26T09:17:09.123Z", "payload": {"enc": enc}}
