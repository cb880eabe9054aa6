"""AIConexus native Ed25519 batch verifier: one C call verifies a whole batch.

:func:`verify_batch` hands a batch to libsodium's ``crypto_sign_verify_detached`` in one cffi
call that releases the GIL until the last verdict, so threads verifying batches run on every
core. The compiled extension is optional (see ``_build.py``): :data:`AVAILABLE` says whether
it was built. The gateway's ``aiconexus_gateway.batch_verify`` wraps this module and falls
back to PyNaCl when it is missing; use that API rather than this one.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["AVAILABLE", "KEY_BYTES", "SIGNATURE_BYTES", "NativeUnavailableError", "verify_batch"]

KEY_BYTES = 32
"""Length of every public key in ``keys``."""

SIGNATURE_BYTES = 64
"""Length of every signature in ``signatures``."""


class NativeUnavailableError(ImportError):
    """The extension was not built (no C compiler or no libsodium headers at install time)."""

    def __str__(self) -> str:
        return (
            "the native Ed25519 verifier was not built: reinstall aiconexus-native with a C "
            "compiler and libsodium's headers present (Debian: libsodium-dev)"
        )


try:
    from aiconexus_native._ed25519_batch import ffi, lib
except ImportError:  # built without the extension
    AVAILABLE = False
else:
    if lib.aiconexus_init() != 0:  # pragma: no cover - libsodium cannot start
        raise RuntimeError("libsodium failed to initialise")
    AVAILABLE = True


def verify_batch(keys: bytes, signatures: bytes, messages: bytes, lengths: Sequence[int]) -> bytes:
    """One verdict byte per item (1 valid, 0 invalid), verified with the GIL released.

    Item ``i`` is the key ``keys[32i:32i+32]``, the signature ``signatures[64i:64i+64]`` and
    the message of ``lengths[i]`` bytes that follows the previous ones in ``messages``. The
    sizes must agree exactly (ValueError otherwise): the C code reads what they promise.
    Raises :class:`NativeUnavailableError` when the extension was not built.
    """
    if not AVAILABLE:
        raise NativeUnavailableError
    count = len(lengths)
    if len(keys) != KEY_BYTES * count or len(signatures) != SIGNATURE_BYTES * count:
        raise ValueError(
            f"{count} items need {KEY_BYTES * count} key and "
            f"{SIGNATURE_BYTES * count} signature bytes"
        )
    if min(lengths, default=0) < 0 or sum(lengths) != len(messages):
        raise ValueError("the message lengths do not add up to len(messages)")
    if count == 0:
        return b""
    verdicts = ffi.new("unsigned char[]", count)
    lib.aiconexus_verify_batch(
        count,
        ffi.from_buffer(keys),
        ffi.from_buffer(signatures),
        ffi.from_buffer(messages),
        ffi.new("size_t[]", lengths),
        verdicts,
    )
    return bytes(ffi.buffer(verdicts))
