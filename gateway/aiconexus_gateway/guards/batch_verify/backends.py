"""The two ways to verify a batch: the native extension, or PyNaCl item by item.

Both give the protocol core's verdict (:func:`aiconexus.protocol.ed25519.verify_ed25519`):

- the core first refuses a key that is not 32 bytes or a signature that is not 64 bytes;
  both backends do the same, here in Python, before anything reaches libsodium;
- then the core runs libsodium's ``crypto_sign_open``, whose whole check is
  ``crypto_sign_verify_detached`` (S canonical, R and the key canonical and not of small
  order, then the group equation); the native backend calls that same function directly,
  and the PyNaCl backend calls the core's function itself.

The native extension (``aiconexus_native``, an optional distribution) releases the GIL for
the whole batch; PyNaCl releases it per item, with one hand-over per verification.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from aiconexus.protocol.ed25519 import PUBLIC_KEY_BYTES, SIGNATURE_BYTES, verify_ed25519

__all__ = ["Backend", "Item", "native_available", "verify_native", "verify_pynacl"]

Backend = Literal["native", "pynacl"]
"""Which code verifies: the native extension, or PyNaCl (the fallback)."""

Item = tuple[bytes, bytes, bytes]
"""One item: ``(public_key, message, signature)``, in the order of ``verify_ed25519``."""

try:
    import aiconexus_native as _native
except ImportError:  # the optional distribution is not installed
    _native = None  # type: ignore[assignment]


def native_available() -> bool:
    """True when the native extension is installed and was compiled."""
    return _native is not None and _native.AVAILABLE


def verify_pynacl(items: Sequence[Item]) -> list[bool]:
    """The core's verdict for each item, one PyNaCl call each."""
    return [verify_ed25519(key, message, signature) for key, message, signature in items]


def verify_native(items: Sequence[Item]) -> list[bool]:
    """The core's verdict for each item, the well-formed ones in one native call (GIL free).

    Callers check :func:`native_available` first.
    """
    assert _native is not None
    keys: list[bytes] = []
    signatures: list[bytes] = []
    messages: list[bytes] = []
    positions: list[int] = []
    for position, (key, message, signature) in enumerate(items):
        if len(key) == PUBLIC_KEY_BYTES and len(signature) == SIGNATURE_BYTES:
            keys.append(key)
            signatures.append(signature)
            messages.append(message)
            positions.append(position)
    raw = _native.verify_batch(
        b"".join(keys), b"".join(signatures), b"".join(messages), [len(m) for m in messages]
    )
    if len(positions) == len(items):
        return [verdict == 1 for verdict in raw]
    verdicts = [False] * len(items)
    for position, verdict in zip(positions, raw, strict=True):
        verdicts[position] = verdict == 1
    return verdicts
