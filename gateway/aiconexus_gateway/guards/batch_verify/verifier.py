"""BatchVerifier: many Ed25519 verdicts in one call, within bounds, native or PyNaCl.

>>> from nacl.signing import SigningKey
>>> key = SigningKey.generate()
>>> signed = key.sign(b"frame")
>>> good = (bytes(key.verify_key), b"frame", signed.signature)
>>> bad = (bytes(key.verify_key), b"other", signed.signature)
>>> BatchVerifier().verify_many([good, bad, good])
[True, False, True]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from .backends import (
    Backend,
    Item,
    native_available,
    verify_native,
    verify_pynacl,
)
from .errors import (
    BatchTooHeavyError,
    BatchTooLargeError,
    MessageTooLongError,
    NativeUnavailableError,
)

__all__ = [
    "DEFAULT_MAX_ITEMS",
    "DEFAULT_MAX_MESSAGE_BYTES",
    "DEFAULT_MAX_TOTAL_BYTES",
    "BatchVerifier",
]

DEFAULT_MAX_ITEMS = 4096
"""Items per batch by default."""

DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024
"""Bytes per message by default (four times the protocol's default frame bound)."""

DEFAULT_MAX_TOTAL_BYTES = 64 * 1024 * 1024
"""Message bytes per batch by default (the native backend copies them into one buffer)."""


class BatchVerifier:
    """Verifies batches of ``(public_key, message, signature)`` items, one verdict each.

    ``backend`` is ``"auto"`` (native when installed, else PyNaCl), ``"native"`` (raises
    :class:`NativeUnavailableError` when it is not installed) or ``"pynacl"``. Each verdict
    equals :func:`aiconexus.protocol.ed25519.verify_ed25519`'s on the same item. Thread-safe:
    one instance can serve every worker thread.
    """

    def __init__(
        self,
        *,
        backend: Literal["auto", "native", "pynacl"] = "auto",
        max_items: int = DEFAULT_MAX_ITEMS,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
    ) -> None:
        if min(max_items, max_message_bytes, max_total_bytes) < 1:
            raise ValueError("the bounds must be positive")
        if backend == "native" and not native_available():
            raise NativeUnavailableError
        self._backend: Backend = (
            "native" if backend in ("auto", "native") and native_available() else "pynacl"
        )
        self._verify = verify_native if self._backend == "native" else verify_pynacl
        self.max_items = max_items
        self.max_message_bytes = max_message_bytes
        self.max_total_bytes = max_total_bytes

    @property
    def backend(self) -> Backend:
        """``"native"`` or ``"pynacl"``: which code this verifier runs."""
        return self._backend

    def check(self, items: Sequence[Item]) -> None:
        """Raise a :class:`BatchVerifyError` if ``items`` is over a bound; verify nothing."""
        if len(items) > self.max_items:
            raise BatchTooLargeError(len(items), self.max_items)
        total = 0
        for index, (_key, message, _signature) in enumerate(items):
            if len(message) > self.max_message_bytes:
                raise MessageTooLongError(index, len(message), self.max_message_bytes)
            total += len(message)
        if total > self.max_total_bytes:
            raise BatchTooHeavyError(total, self.max_total_bytes)

    def verify_many(self, items: Sequence[Item]) -> list[bool]:
        """One verdict per item, in order; the whole batch is refused if over a bound.

        With the native backend the batch runs in one C call that releases the GIL, so call
        this from worker threads (see :class:`AsyncBatchVerifier`) to use every core.
        """
        self.check(items)
        if not items:
            return []
        return self._verify(items)

    def __repr__(self) -> str:
        return (
            f"BatchVerifier(backend={self._backend!r}, max_items={self.max_items}, "
            f"max_message_bytes={self.max_message_bytes}, "
            f"max_total_bytes={self.max_total_bytes})"
        )
