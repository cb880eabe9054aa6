"""The sweeper of the Redis backend: what dead nodes and old stored frames leave behind.

Every node runs it every ``sweep_interval``; a short lock lets one node do the work per round.
A node whose liveness key expired (killed, or cut off from Redis for PRESENCE_TTL) loses its
agents from presence for good; they are already invisible before that, since look-ups and
listings check the liveness key.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis

__all__ = ["sweep_once", "trim_expired"]

logger = logging.getLogger("aiconexus_gateway.backend.redis")


async def sweep_once(
    client: Redis,
    run_script: Callable[..., Awaitable[Any]],
    *,
    prefix: str,
    node_id: str,
    hold_ms: int,
    store_ttl: float,
) -> int:
    """One sweep if this node wins the lock; returns how many agents it removed."""
    if not await client.set(f"{prefix}sweep_lock", node_id, nx=True, px=hold_ms):
        return 0
    removed = 0
    for node in sorted(await client.smembers(f"{prefix}nodes")):
        if node != node_id:
            removed += max(0, int(await run_script("SWEEP_NODE", str(node), "0")))
    await trim_expired(client, run_script, prefix=prefix, store_ttl=store_ttl)
    if removed:
        logger.info("swept %d agents of dead nodes from presence", removed)
    return removed


async def trim_expired(
    client: Redis,
    run_script: Callable[..., Awaitable[Any]],
    *,
    prefix: str,
    store_ttl: float,
    batch: int = 1000,
) -> int:
    """Drop stored frames past the age limit (only recipients due are touched)."""
    now_ms, ttl_ms = int(time.time() * 1000), int(store_ttl * 1000)
    due = await client.zrangebyscore(
        f"{prefix}store_due", "-inf", f"({now_ms - ttl_ms}", start=0, num=batch
    )
    dropped = 0
    for did in due:
        dropped += int(await run_script("TRIM", str(did), now_ms, ttl_ms))
    return dropped
