"""Gateway backends: the interface, the in-memory implementation and a factory."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import AgentRecord, Backend, BackendUnavailableError, NodeHooks, StoreFullError
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
    "create_backend",
]


def create_backend(settings: Settings) -> Backend:
    """The backend named by ``STORAGE_TYPE``, configured from ``settings``.

    The Redis backend needs the ``redis`` extra (``pip install 'aiconexus-gateway[redis]'``).
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
        )
    return MemoryBackend(
        store_max_per_agent=settings.store_max_per_agent,
        store_max_total=settings.store_max_total,
        store_ttl=settings.store_ttl,
    )
