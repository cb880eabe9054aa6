"""Ed25519 verification in batches: native (C, GIL released per batch) or PyNaCl.

Import from here::

    from aiconexus_gateway.guards.batch_verify import (
        AsyncBatchVerifier, BatchVerifier, PerTurnVerifier)

    verifier = BatchVerifier()                  # backend "auto": native if installed
    verifier.backend                            # "native" or "pynacl"
    verifier.verify_many([(public_key, message, signature), ...])   # -> list[bool]

    async with AsyncBatchVerifier(verifier) as pool:   # one worker thread per core
        verdicts = await pool.verify_many(items)
        per_turn = PerTurnVerifier(pool)        # one frame per call, one batch per loop turn
        ok = await per_turn.verify(public_key, message, signature)

The native backend comes from the optional ``aiconexus-native`` distribution (the gateway's
``native`` extra); without it everything works the same with PyNaCl. Every verdict equals the
protocol core's :func:`aiconexus.protocol.ed25519.verify_ed25519` (see ``backends``).
"""

from .backends import Backend, Item, native_available
from .errors import (
    BatchTooHeavyError,
    BatchTooLargeError,
    BatchVerifyError,
    MessageTooLongError,
    NativeUnavailableError,
)
from .per_turn import PerTurnVerifier
from .pool import AsyncBatchVerifier, default_workers
from .verifier import (
    DEFAULT_MAX_ITEMS,
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_MAX_TOTAL_BYTES,
    BatchVerifier,
)

__all__ = [
    "DEFAULT_MAX_ITEMS",
    "DEFAULT_MAX_MESSAGE_BYTES",
    "DEFAULT_MAX_TOTAL_BYTES",
    "AsyncBatchVerifier",
    "Backend",
    "BatchTooHeavyError",
    "BatchTooLargeError",
    "BatchVerifyError",
    "BatchVerifier",
    "Item",
    "MessageTooLongError",
    "NativeUnavailableError",
    "PerTurnVerifier",
    "default_workers",
    "native_available",
]
