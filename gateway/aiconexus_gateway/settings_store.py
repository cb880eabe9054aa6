"""The offline store's settings: its bounds and their defaults, in one place.

:class:`StoreLimits` is what the backends take (see :mod:`.backend._store_quota`);
:data:`STORE_DEFAULTS` holds the documented defaults that :class:`.settings.Settings` uses
for its ``store_*`` fields, each read from the environment variable of the same name in
upper case (``STORE_MAX_PER_AGENT``...). A bound of 0 is off.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["STORE_BOUNDS", "STORE_DEFAULTS", "StoreLimits"]

_MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class StoreLimits:
    """The bounds of one offline store (0 = that bound is off) and its age limit."""

    per_agent: int = 1000
    """Frames stored for one recipient (``STORE_MAX_PER_AGENT``; 0: store nothing)."""
    total: int = 100_000
    """Frames stored in all (``STORE_MAX_TOTAL``)."""
    per_sender: int = 10_000
    """Frames stored from one sender (``STORE_MAX_PER_SENDER``)."""
    bytes_per_agent: int = 32 * _MIB
    """Bytes stored for one recipient (``STORE_MAX_BYTES_PER_AGENT``)."""
    bytes_per_sender: int = 32 * _MIB
    """Bytes stored from one sender (``STORE_MAX_BYTES_PER_SENDER``)."""
    bytes_total: int = 256 * _MIB
    """Bytes stored in all (``STORE_MAX_BYTES_TOTAL``)."""
    bytes_unseen: int = 64 * _MIB
    """Bytes stored for recipients never seen registered (``STORE_MAX_BYTES_UNSEEN``)."""
    seen_max: int = 100_000
    """Agents remembered as seen registered (``STORE_SEEN_MAX``)."""
    ttl: float = 86_400.0
    """Seconds a stored frame is kept (``STORE_TTL``)."""


STORE_DEFAULTS = StoreLimits()
"""The default bounds (what every ``store_*`` setting defaults to)."""

STORE_BOUNDS = (
    "store_max_per_sender",
    "store_max_bytes_per_agent",
    "store_max_bytes_per_sender",
    "store_max_bytes_total",
    "store_max_bytes_unseen",
    "store_seen_max",
)
"""The offline store's further bounds (integers read like :data:`.settings.LIMITS`)."""
