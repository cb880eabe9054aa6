"""What a batch verification refuses, under one root.

::

    GatewayError
    └── BatchVerifyError (also ValueError)
    ├── BatchTooLargeError      more items than ``max_items``
    ├── MessageTooLongError     one message over ``max_message_bytes``
    └── BatchTooHeavyError      the messages together over ``max_total_bytes``
    GatewayError
    └── NativeUnavailableError (also ImportError)   backend="native" asked, extension not installed

A refused batch is refused whole, before anything is verified. A key or signature of the
wrong length is not an error: that item is simply invalid, as in the protocol core.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiconexus_gateway.errors import GatewayError

__all__ = [
    "BatchTooHeavyError",
    "BatchTooLargeError",
    "BatchVerifyError",
    "MessageTooLongError",
    "NativeUnavailableError",
]


class BatchVerifyError(GatewayError, ValueError):
    """A batch over one of the verifier's bounds (nothing in it was verified)."""

    code = "batch_refused"
    """A stable name of the refusal, for logs and metrics."""


@dataclass(eq=False)
class BatchTooLargeError(BatchVerifyError):
    """The batch holds more than ``limit`` items."""

    count: int
    limit: int
    code = "batch_too_large"

    def __str__(self) -> str:
        return f"batch of {self.count} items is over the limit of {self.limit}"


@dataclass(eq=False)
class MessageTooLongError(BatchVerifyError):
    """Item ``index`` has a message of ``length`` bytes, over ``limit``."""

    index: int
    length: int
    limit: int
    code = "message_too_long"

    def __str__(self) -> str:
        return (
            f"message of item {self.index} is {self.length} bytes, over the limit of {self.limit}"
        )


@dataclass(eq=False)
class BatchTooHeavyError(BatchVerifyError):
    """The batch's messages add up to ``total`` bytes, over ``limit``."""

    total: int
    limit: int
    code = "batch_too_heavy"

    def __str__(self) -> str:
        return f"batch messages total {self.total} bytes, over the limit of {self.limit}"


class NativeUnavailableError(GatewayError, ImportError):
    """The native backend was asked for but the ``native`` extra is not built or installed."""

    def __str__(self) -> str:
        return (
            "the native Ed25519 verifier is not available: install the optional "
            "aiconexus-native distribution (the gateway's 'native' extra; it needs a C "
            "compiler and libsodium's headers, Debian: libsodium-dev), or use "
            "backend='auto' to fall back to PyNaCl"
        )
