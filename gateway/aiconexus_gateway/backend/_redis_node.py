"""The node side of the Redis backend: connections, channel listener, heartbeat, sweeper.

:class:`RedisNode` holds what one gateway node needs to take part in the cluster; the
:class:`~aiconexus_gateway.backend.redis.RedisBackend` built on it implements the backend
interface. The listener receives this node's channel (frames for local sessions, session
replacements, store notices) and the cluster's presence channel (owner-cache invalidation);
after every (re)connection it re-announces the node and re-claims its live sessions. The
heartbeat keeps the node's liveness key; the sweeper cleans up after dead nodes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from aiconexus_gateway.backend import _redis_scripts as lua
from aiconexus_gateway.backend._redis_cache import OwnerCache
from aiconexus_gateway.backend._redis_codec import (
    BATCH,
    DELIVER,
    REPLACED,
    SEP,
    STORED,
    record_json,
    split_batch,
    split_owner,
)
from aiconexus_gateway.backend._redis_pipeline import AutoPipeline, Script
from aiconexus_gateway.backend._redis_publish import BATCH_CHANNEL, CHANNEL, NodeBatches
from aiconexus_gateway.backend._store_quota import frame_sender
from aiconexus_gateway.backend.base import (
    AgentRecord,
    BackendUnavailableError,
    NodeHooks,
    StoreFullError,
)
from aiconexus_gateway.settings_store import STORE_DEFAULTS, StoreLimits

__all__ = ["RedisNode"]

logger = logging.getLogger("aiconexus_gateway.backend.redis")

_T = TypeVar("_T")


class RedisNode:
    """Connections and background tasks of one gateway node in a Redis-backed cluster."""

    def __init__(
        self,
        url: str,
        *,
        node_id: str,
        presence_ttl: float = 15.0,
        store_max_per_agent: int = STORE_DEFAULTS.per_agent,
        store_max_total: int = STORE_DEFAULTS.total,
        store_ttl: float = STORE_DEFAULTS.ttl,
        sweep_interval: float | None = None,
        key_prefix: str = "aiconexus:",
        connect_timeout: float = 2.0,
        command_timeout: float = 5.0,
        store_limits: StoreLimits | None = None,
    ) -> None:
        if not node_id or "\n" in node_id or SEP in node_id:
            raise ValueError("node_id must be a non-empty single-line string")
        self.url = url
        self.node_id = node_id
        self.presence_ttl = presence_ttl
        if store_limits is None:
            store_limits = StoreLimits(
                per_agent=store_max_per_agent, total=store_max_total, ttl=store_ttl
            )
        self.store_limits = store_limits
        self.store_max_per_agent = store_limits.per_agent
        self.store_max_total = store_limits.total
        self.store_ttl = store_limits.ttl
        self.sweep_interval = sweep_interval if sweep_interval is not None else presence_ttl / 2
        self._p = key_prefix
        self._channel = f"{key_prefix}{CHANNEL}{node_id}"
        self._batch_channel = f"{key_prefix}{BATCH_CHANNEL}{node_id}"
        self._presence_channel = f"{key_prefix}presence"
        self._owners = OwnerCache(ttl_s=min(1.0, presence_ttl / 3))
        options: dict[str, Any] = {
            "decode_responses": True,
            "socket_connect_timeout": connect_timeout,
            "socket_timeout": command_timeout,
        }
        # One retry for ordinary calls (a pooled connection may be stale after a restart).
        self._client: Redis = Redis.from_url(url, retry=Retry(NoBackoff(), 1), **options)
        # The per-frame calls: pipelined on one raw connection, never retried (not idempotent).
        self._pipe = AutoPipeline(
            url, connect_timeout=connect_timeout, command_timeout=command_timeout
        )
        self._scripts = {name: Script(getattr(lua, name)) for name in lua.__all__}
        self._batches = NodeBatches(self._pipe, self._scripts["SEND"], key_prefix)
        self._incarnation = secrets.token_hex(8)
        self._hooks: NodeHooks | None = None
        self._local: dict[str, AgentRecord] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._subscribed = asyncio.Event()
        self._heartbeat_ok = True
        self._own_entries_cleared = False
        self._claiming: dict[str, int] = {}
        self._deferred_notices: set[str] = set()
        self._closing = False
        self._observe: Callable[[float], None] | None = None

    def _stored_available(self, did: str) -> None:
        """Tell the hub to drain ``did``'s stored frames, but never before its claim returned.

        A frame stored once the claim is visible in Redis triggers this; the hub drains for a
        new session right after claim() returns (REGISTERED first, then stored frames), so a
        notice arriving meanwhile waits until then.
        """
        if did in self._claiming:
            self._deferred_notices.add(did)
        else:
            self._require_hooks().stored_available(did)

    def _claim_done(self, did: str) -> None:
        remaining = self._claiming.pop(did, 1) - 1
        if remaining > 0:
            self._claiming[did] = remaining
        elif did in self._deferred_notices:
            self._deferred_notices.discard(did)
            # after the caller of claim() has queued its own drain (synchronously on return)
            asyncio.get_running_loop().call_soon(self._stored_available, did)

    def _require_hooks(self) -> NodeHooks:
        if self._hooks is None:
            raise RuntimeError("RedisBackend.start() was not called")
        return self._hooks

    async def _call(self, awaitable: Awaitable[_T]) -> _T:
        begun = time.monotonic()
        try:
            return await awaitable
        except BackendUnavailableError:
            raise
        except Exception as exc:
            raise BackendUnavailableError(f"gateway backend unavailable: {exc!r}") from exc
        finally:
            if self._observe is not None:
                self._observe(time.monotonic() - begun)

    async def _script(self, name: str, *args: str | int) -> Any:
        return await self._call(self._scripts[name].run(self._client, self._p, *args))

    async def _pipelined_script(self, name: str, *args: str | int) -> Any:
        return await self._pipe.script(self._scripts[name], self._p, *args)

    async def _tell_replaced(self, did: str, old_owner: str) -> None:
        node, session = split_owner(old_owner)
        if node == self.node_id:
            self._require_hooks().replaced(did, session)
        else:
            await self._script("SEND", node, CHANNEL, f"{REPLACED}{SEP}{did}{SEP}{session}", "")

    async def _reclaim_local(self) -> None:
        records = list(self._local.values())
        if not records:
            return
        args: list[str | int] = [self.node_id]
        for record in records:
            args += [record.did, record.session_id, record_json(record)]
        restored = await self._script("REFRESH", *args)
        if restored:
            # While this node was not listed, frames for its agents were stored: drain them.
            logger.info("re-announced %d local sessions to Redis", restored)
            for record in records:
                self._stored_available(record.did)

    async def _announce(self) -> None:
        if not self._own_entries_cleared:
            # Whatever an earlier run under this node id left in presence is stale.
            await self._script("SWEEP_NODE", self.node_id, "1")
            self._own_entries_cleared = True
        await self._script(
            "HEARTBEAT", self.node_id, int(self.presence_ttl * 1000), self._incarnation
        )
        self._heartbeat_ok = True
        await self._reclaim_local()

    async def _on_message(self, data: str) -> None:
        kind, _, rest = data.partition(SEP)
        hooks = self._require_hooks()
        if kind == DELIVER:
            recipient, _, frame = rest.partition(SEP)
            await self._deliver(recipient, frame)
        elif kind == BATCH:
            try:
                entries = split_batch(rest)
            except ValueError as exc:
                logger.error("malformed batch on the node channel dropped: %s", exc)
                return
            for recipient, frame in entries:
                await self._deliver(recipient, frame)
        elif kind == REPLACED:
            did, _, session = rest.partition(SEP)
            hooks.replaced(did, session)
        elif kind == STORED:
            self._stored_available(rest)

    async def _deliver(self, recipient: str, frame: str) -> None:
        if self._require_hooks().deliver_local(recipient, frame):
            return
        try:  # the session left after the sender's node looked it up: never lose it
            await self.store(recipient, frame, frame_sender(frame))
        except (StoreFullError, BackendUnavailableError) as exc:
            logger.error("frame for %s dropped, could not store it: %s", recipient, exc)

    async def _listen_forever(self) -> None:
        delay = 0.05
        reconnected = False
        while not self._closing:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                # Announce this incarnation before listening on the node's channel: a listener
                # beside a liveness key of the previous incarnation (killed, key not expired
                # yet) would make that incarnation look alive, and a frame it lost be taken
                # for a replay when resent.
                self._owners.clear()
                await self._announce()
                await pubsub.subscribe(self._channel, self._batch_channel, self._presence_channel)
                if not self._subscribed.is_set():
                    logger.info("node %s subscribed to Redis at %s", self.node_id, self.url)
                self._subscribed.set()
                if reconnected:
                    # Store notices published while this node was not listening are lost:
                    # let every local session look at its store again.
                    for did in list(self._local):
                        self._stored_available(did)
                reconnected = True
                delay = 0.05
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is None or message.get("type") != "message":
                        continue
                    if message["channel"] == self._presence_channel:
                        self._owners.invalidate(message["data"])
                    else:
                        await self._on_message(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._subscribed.is_set():
                    logger.warning("lost Redis at %s, reconnecting: %r", self.url, exc)
                self._subscribed.clear()
                self._owners.clear()
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def _heartbeat_forever(self) -> None:
        interval = max(0.05, self.presence_ttl / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                vanished = await self._script(
                    "HEARTBEAT", self.node_id, int(self.presence_ttl * 1000), self._incarnation
                )
                if int(vanished):
                    logger.warning("node %s liveness key had vanished, re-announcing", self.node_id)
                    self._owners.clear()
                    await self._reclaim_local()
                self._heartbeat_ok = True
            except BackendUnavailableError:
                self._heartbeat_ok = False
                self._owners.clear()

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_interval)
            with contextlib.suppress(BackendUnavailableError):
                await self.sweep()

    async def store(
        self, recipient: str, frame: str, sender: str, message_id: str | None = None
    ) -> None:
        """Keep ``frame`` for ``recipient`` (implemented by the backend)."""
        raise NotImplementedError

    async def sweep(self) -> int:
        """Clean up after dead nodes (implemented by the backend)."""
        raise NotImplementedError
