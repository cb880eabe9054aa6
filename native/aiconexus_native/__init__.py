"""AIConexus native Ed25519 batch verifier: one C call verifies a whole batch.

:func:`verify_batch` hands a batch to libsodium's ``crypto_sign_verify_detached`` in one cffi
call that releases the GIL until the last verdict, so threads verifying batches run on every
core. The compiled extension is optional (see ``_build.py``): :data:`AVAILABLE` says whether
it was built and its libsodium refuses what the protocol core refuses. The gateway's
``aiconexus_gateway.guards.batch_verify`` wraps this module and falls back to PyNaCl when it is
missing; use that API rather than this one.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["AVAILABLE", "KEY_BYTES", "SIGNATURE_BYTES", "NativeUnavailableError", "verify_batch"]

KEY_BYTES = 32
"""Length of every public key in ``keys``."""

SIGNATURE_BYTES = 64
"""Length of every signature in ``signatures``."""


class NativeUnavailableError(ImportError):
    """The extension is missing or unfit: not built, or linked to a libsodium too old.

    Not built: no C compiler or no libsodium headers at install time. Too old: it does not
    refuse what the protocol core refuses (see ``_rules_hold``).
    """

    def __str__(self) -> str:
        return (
            "the native Ed25519 verifier is not usable: reinstall aiconexus-native with a C "
            "compiler and the headers of a current libsodium present (Debian: libsodium-dev)"
        )


# RFC 8032 section 7.1, TEST 1: key, empty message, signature.
_RFC8032_KEY = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
_RFC8032_SIGNATURE = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701c"
    "f9b46bd25bf5f0595bbe24655141438e7a100b"
)
_ORDER = 2**252 + 27742317777372353535851937790883648493
_IDENTITY = (1).to_bytes(32, "little")


def _rules_hold() -> bool:
    """The linked libsodium has the protocol core's rules (checked once, at import).

    A valid signature verifies; the same with ``S + L`` (non-canonical S) does not; the
    identity point as key with R = identity and S = 0 (valid for any message where small-order
    keys are allowed) does not. An old libsodium without these checks fails here, and the
    gateway then verifies with PyNaCl instead.
    """
    s = int.from_bytes(_RFC8032_SIGNATURE[32:], "little") + _ORDER
    items = [
        (_RFC8032_KEY, _RFC8032_SIGNATURE),
        (_RFC8032_KEY, _RFC8032_SIGNATURE[:32] + s.to_bytes(32, "little")),
        (_IDENTITY, _IDENTITY + bytes(32)),
    ]
    verdicts = verify_batch(
        b"".join(k for k, _ in items), b"".join(s for _, s in items), b"", [0] * 3
    )
    return verdicts == b"\x01\x00\x00"


def verify_batch(keys: bytes, signatures: bytes, messages: bytes, lengths: Sequence[int]) -> bytes:
    """One verdict byte per item (1 valid, 0 invalid), verified with the GIL released.

    Item ``i`` is the key ``keys[32i:32i+32]``, the signature ``signatures[64i:64i+64]`` and
    the message of ``lengths[i]`` bytes that follows the previous ones in ``messages``. The
    sizes must agree exactly (ValueError otherwise): the C code reads what they promise.
    Raises :class:`NativeUnavailableError` when the extension was not built, or when the
    libsodium it links lacks the protocol core's rules (see :func:`_rules_hold`).
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


try:
    from aiconexus_native._ed25519_batch import ffi, lib
except ImportError:  # built without the extension
    AVAILABLE = False
else:
    if lib.aiconexus_init() != 0:  # pragma: no cover - libsodium cannot start
        raise RuntimeError("libsodium failed to initialise")
    AVAILABLE = True
    AVAILABLE = _rules_hold()
