"""Gateway backends: the interface, the in-memory implementation, store bounds and a factory.

Owns presence, routing across nodes and the offline store (memory, SQLite, Redis) behind
one interface. May import only the shared top-level pieces (settings, errors, tasks).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._store_quota import StoreLimits
from .base import (
    AgentRecord,
    Backend,
    BackendUnavailableError,
    NodeHooks,
    StoreFullError,
    UnseenRecipientError,
)
from .memory import MemoryBackend

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = [
    "AgentRecord",
    "Backend",
    "BackendUnavailableError",
    "MemoryBackend",
    "NodeHooks",
    "StoreFullError",
    "StoreLimits",
    "UnseenRecipientError",
    "create_backend",
    "store_limits",
]


def store_limits(settings: Settings) -> StoreLimits:
    """The offline-store bounds configured by the ``STORE_*`` settings."""
    return StoreLimits(
        per_agent=settings.store_max_per_agent,
        total=settings.store_max_total,
        per_sender=settings.store_max_per_sender,
        bytes_per_agent=settings.store_max_bytes_per_agent,
        bytes_per_sender=settings.store_max_bytes_per_sender,
        bytes_total=settings.store_max_bytes_total,
        bytes_unseen=settings.store_max_bytes_unseen,
        seen_max=settings.store_seen_max,
        ttl=settings.store_ttl,
    )


def create_backend(settings: Settings) -> Backend:
    """The backend named by ``STORAGE_TYPE``, configured from ``settings``.

    The SQLite backend needs nothing beyond Python's ``sqlite3``; the Redis backend needs
    the ``redis`` extra (``pip install 'aiconexus-gateway[redis]'``).
    """
    if settings.storage_type == "redis":
        try:
            from .redis import RedisBackend
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            raise RuntimeError(
                "STORAGE_TYPE=redis needs the redis extra: pip install 'aiconexus-gateway[redis]'"
                f" ({exc})"
            ) from exc
        return RedisBackend(
            settings.redis_url,
            node_id=settings.node_id,
            presence_ttl=settings.presence_ttl,
            store_max_per_agent=settings.store_max_per_agent,
            store_max_total=settings.store_max_total,
            store_ttl=settings.store_ttl,
            store_limits=store_limits(settings),
        )
    if settings.storage_type == "sqlite":
        from .sqlite import SqliteBackend

        return SqliteBackend(settings.sqlite_path, store_limits=store_limits(settings))
    return MemoryBackend(store_limits=store_limits(settings))
