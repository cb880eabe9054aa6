"""Redis backend: several gateway nodes behind one address act as one gateway.

Each node keeps its WebSocket sessions in memory and shares through one Redis server
(key layout in :mod:`._redis_scripts`; every operation is one Lua script or command):

* presence: owner and record per DID, one set per capability; an entry counts only while
  its node's liveness key exists (refreshed every PRESENCE_TTL / 3), and a sweeper removes
  what dead nodes left. Owner look-ups are cached per node for a moment and invalidated
  through a presence channel (see :mod:`._redis_cache`);
* replay detection: one marker per (sender, id), pending on the accepting node until the
  frame is published or stored, so a copy re-sent after that node died is accepted;
* cross-node delivery: one pub/sub channel per node, published in issue order on one
  pipelined connection (per-pair order); ``PUBLISH`` answers 0 when the node is gone, and
  the caller then stores the frame;
* offline store: one list per recipient, bounded per recipient and in total, with an age
  limit; after storing, the recipient's live node (if any) is told to drain.

When Redis is unreachable every call raises :class:`BackendUnavailableError` and
:meth:`RedisBackend.healthy` is False; the node reconnects by itself, re-subscribes,
re-announces itself and re-claims its live sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Sequence
from dataclasses import replace
from typing import Any, ClassVar, TypeVar

try:
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "STORAGE_TYPE=redis needs the Redis client: pip install 'aiconexus-gateway[redis]'"
    ) from exc

from aiconexus.protocol import format_timestamp
from aiconexus_gateway.backend import _redis_scripts as lua
from aiconexus_gateway.backend._redis_cache import OwnerCache
from aiconexus_gateway.backend._redis_codec import (
    DELIVER,
    REPLACED,
    SEP,
    STORED,
    record_from_json,
    record_json,
    replay_key,
    replay_marker,
    split_owner,
)
from aiconexus_gateway.backend._redis_pipeline import AutoPipeline, Script
from aiconexus_gateway.backend._redis_sweep import sweep_once, trim_expired
from aiconexus_gateway.backend.base import (
    AgentRecord,
    Backend,
    BackendUnavailableError,
    NodeHooks,
    StoreFullError,
)

__all__ = ["RedisBackend"]

logger = logging.getLogger("aiconexus_gateway.backend.redis")

_T = TypeVar("_T")


class RedisBackend(Backend):
    """Shared presence, replay window, node channels and offline store in Redis."""

    name: ClassVar[str] = "redis"

    def __init__(
        self,
        url: str,
        *,
        node_id: str,
        presence_ttl: float = 15.0,
        store_max_per_agent: int = 1000,
        store_max_total: int = 100_000,
        store_ttl: float = 86_400.0,
        sweep_interval: float | None = None,
        key_prefix: str = "aiconexus:",
        connect_timeout: float = 2.0,
        command_timeout: float = 5.0,
    ) -> None:
        if not node_id or "\n" in node_id or SEP in node_id:
            raise ValueError("node_id must be a non-empty single-line string")
        self.url = url
        self.node_id = node_id
        self.presence_ttl = presence_ttl
        self.store_max_per_agent = store_max_per_agent
        self.store_max_total = store_max_total
        self.store_ttl = store_ttl
        self.sweep_interval = sweep_interval if sweep_interval is not None else presence_ttl / 2
        self._p = key_prefix
        self._channel = f"{key_prefix}ch:{node_id}"
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
        self._incarnation = secrets.token_hex(8)
        self._hooks: NodeHooks | None = None
        self._local: dict[str, AgentRecord] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._subscribed = asyncio.Event()
        self._heartbeat_ok = True
        self._own_entries_cleared = False
        self._closing = False

    # lifecycle ------------------------------------------------------------------------------
    async def start(self, hooks: NodeHooks) -> None:
        """Connect, clear what a previous run of this node id left, subscribe, announce."""
        self._hooks = hooks
        self._pipe.start()
        for name, loop in (
            ("listener", self._listen_forever),
            ("heartbeat", self._heartbeat_forever),
            ("sweeper", self._sweep_forever),
        ):
            self._tasks.append(asyncio.create_task(loop(), name=f"redis-{name}"))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), timeout=5.0)
        if not self._subscribed.is_set():
            logger.warning("Redis at %s unreachable at start-up, retrying", self.url)

    async def close(self) -> None:
        """Leave presence with every local session, stop the tasks, close the connections."""
        self._closing = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        with contextlib.suppress(Exception):
            for record in list(self._local.values()):
                await self._script("RELEASE", record.did, self.node_id, record.session_id)
            await self._client.delete(f"{self._p}node:{self.node_id}")
            await self._client.srem(f"{self._p}nodes", self.node_id)
        self._local.clear()
        await self._pipe.close()
        await self._client.aclose()

    async def healthy(self) -> bool:
        """True while this node is subscribed to its channel and Redis answers PING."""
        if not (self._subscribed.is_set() and self._heartbeat_ok):
            return False
        try:
            return bool(await asyncio.wait_for(self._client.ping(), timeout=2.0))
        except Exception:
            return False

    # presence -------------------------------------------------------------------------------
    async def claim(self, record: AgentRecord) -> None:
        """Make ``record`` the live session of its DID and close the one it supersedes."""
        self._local[record.did] = record
        try:
            reply = await self._script(
                "CLAIM",
                record.did,
                self.node_id,
                record.session_id,
                record_json(record),
                "0",
                *record.capabilities,
            )
        except BackendUnavailableError:
            if self._local.get(record.did) is record:
                del self._local[record.did]  # the hub drops the session: never re-announce it
            raise
        old = reply[1] if isinstance(reply, list) and len(reply) > 1 else None
        if old:
            await self._tell_replaced(record.did, old)

    async def release(self, did: str, session_id: str) -> None:
        """Remove ``did`` from presence if ``session_id`` (on this node) still owns it."""
        local = self._local.get(did)
        if local is not None and local.session_id == session_id:
            del self._local[did]
        await self._script("RELEASE", did, self.node_id, session_id)

    async def refresh(self, records: Sequence[AgentRecord]) -> None:
        """Update this node's records, re-create presence Redis lost, drop expired frames."""
        now = format_timestamp()
        self._local = {record.did: replace(record, last_seen=now) for record in records}
        await self._reclaim_local()
        try:  # expired stored frames leave the store (and its count) within CLEANUP_INTERVAL
            await trim_expired(self._client, self._script, prefix=self._p, store_ttl=self.store_ttl)
        except BackendUnavailableError:
            raise
        except Exception as exc:
            raise BackendUnavailableError(f"gateway backend unavailable: {exc!r}") from exc

    async def owner(self, did: str) -> AgentRecord | None:
        """The live session of ``did`` on a live node, or None (cached briefly, see OwnerCache)."""
        cached = self._owners.get(did)
        if cached is not None:
            return cached
        generation = self._owners.generation
        text = await self._pipelined_script("OWNER", did)
        if not text:
            return None
        record = record_from_json(text)
        self._owners.put(record, generation)
        return record

    async def list_agents(self, capability: str | None = None) -> list[AgentRecord]:
        """Every agent whose node is alive, optionally only those announcing ``capability``."""
        texts: list[str]
        if capability is None:
            everything = await self._call(self._client.hgetall(f"{self._p}agent"))
            texts = [str(text) for text in everything.values()]
        else:
            dids = sorted(await self._call(self._client.smembers(f"{self._p}cap:{capability}")))
            found = await self._call(self._client.hmget(f"{self._p}agent", dids)) if dids else []
            texts = [str(text) for text in found if text]
        records = [record_from_json(text) for text in texts]
        nodes = sorted({record.node_id for record in records})
        if not nodes:
            return []
        alive_flags = await self._call(self._client.mget([f"{self._p}node:{n}" for n in nodes]))
        alive = {node for node, flag in zip(nodes, alive_flags, strict=True) if flag is not None}
        return sorted(
            (
                r
                for r in records
                if r.node_id in alive and (capability is None or capability in r.capabilities)
            ),
            key=lambda r: (r.connected_at, r.did),
        )

    # replay detection -----------------------------------------------------------------------
    async def first_seen(self, sender: str, message_id: str, window_s: float) -> bool:
        """Set a marker for (sender, id) that lives ``window_s`` seconds; True if it is new.

        The marker is "pending on this node" until the frame is published to another node or
        stored; a copy re-sent after this node was killed in between is therefore accepted,
        while a copy of a frame that was handed on is a replay.
        """
        window_ms = max(1, int(window_s * 1000))
        seen = replay_marker(sender, message_id)
        marker = f"P{self.node_id}\n{self._incarnation}"
        # The common case, a new id, is one plain SET; the script only judges an existing marker.
        if await self._pipe.call("SET", f"{self._p}seen:{seen}", marker, "NX", "PX", window_ms):
            return True
        reply = await self._pipelined_script(
            "FIRST_SEEN", seen, self.node_id, self._incarnation, window_ms
        )
        return int(reply) == 1

    # cross-node delivery --------------------------------------------------------------------
    async def send_to_node(self, node_id: str, recipient: str, frame: str) -> bool:
        """Publish ``frame`` on the node's channel; False if no live node received it."""
        if node_id == self.node_id:
            return self._require_hooks().deliver_local(recipient, frame)
        message = f"{DELIVER}{SEP}{recipient}{SEP}{frame}"
        receivers = await self._pipelined_script("SEND", node_id, message, replay_key(frame))
        if int(receivers) > 0:
            return True
        self._owners.invalidate(recipient)
        return False

    # offline store --------------------------------------------------------------------------
    async def store(self, recipient: str, frame: str) -> None:
        """Append ``frame`` to the recipient's list; tell its live session (if any) to drain."""
        if self.store_max_per_agent <= 0:
            raise StoreFullError("offline store is disabled")
        reply = await self._script(
            "STORE",
            recipient,
            int(time.time() * 1000),
            int(self.store_ttl * 1000),
            self.store_max_per_agent,
            self.store_max_total,
            frame,
            replay_key(frame),
        )
        status, owner = int(reply[0]), reply[1] if len(reply) > 1 else None
        if status == -1:
            raise StoreFullError(f"offline store full for {recipient}")
        if status == -2:
            raise StoreFullError("offline store full")
        if owner:
            node, _session = split_owner(owner)
            if node == self.node_id:
                self._require_hooks().stored_available(recipient)
            else:
                await self._script("SEND", node, f"{STORED}{SEP}{recipient}", "")

    async def take_stored(self, recipient: str) -> list[str]:
        """Remove and return the unexpired frames stored for ``recipient``, oldest first."""
        entries: list[str] = await self._script("TAKE", recipient)
        oldest_ms = int((time.time() - self.store_ttl) * 1000)
        frames: list[str] = []
        for entry in entries:
            stamp, _, frame = entry.partition(":")
            if int(stamp) >= oldest_ms:
                frames.append(frame)
        return frames

    async def stored_count(self) -> int:
        """Number of frames held by the store, cluster-wide."""
        value = await self._call(self._client.get(f"{self._p}store_total"))
        return max(0, int(value or 0))

    # internals ------------------------------------------------------------------------------
    def _require_hooks(self) -> NodeHooks:
        if self._hooks is None:
            raise RuntimeError("RedisBackend.start() was not called")
        return self._hooks

    async def _call(self, awaitable: Awaitable[_T]) -> _T:
        try:
            return await awaitable
        except BackendUnavailableError:
            raise
        except Exception as exc:
            raise BackendUnavailableError(f"gateway backend unavailable: {exc!r}") from exc

    async def _script(self, name: str, *args: str | int) -> Any:
        return await self._call(self._scripts[name].run(self._client, self._p, *args))

    async def _pipelined_script(self, name: str, *args: str | int) -> Any:
        return await self._pipe.script(self._scripts[name], self._p, *args)

    async def _tell_replaced(self, did: str, old_owner: str) -> None:
        node, session = split_owner(old_owner)
        if node == self.node_id:
            self._require_hooks().replaced(did, session)
        else:
            await self._script("SEND", node, f"{REPLACED}{SEP}{did}{SEP}{session}", "")

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
            hooks = self._require_hooks()
            for record in records:
                hooks.stored_available(record.did)

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
            if hooks.deliver_local(recipient, frame):
                return
            try:  # the session left after the sender's node looked it up: never lose it
                await self.store(recipient, frame)
            except (StoreFullError, BackendUnavailableError) as exc:
                logger.error("frame for %s dropped, could not store it: %s", recipient, exc)
        elif kind == REPLACED:
            did, _, session = rest.partition(SEP)
            hooks.replaced(did, session)
        elif kind == STORED:
            hooks.stored_available(rest)

    async def _listen_forever(self) -> None:
        delay = 0.05
        while not self._closing:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel, self._presence_channel)
                self._owners.clear()
                await self._announce()
                if not self._subscribed.is_set():
                    logger.info("node %s subscribed to Redis at %s", self.node_id, self.url)
                self._subscribed.set()
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
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
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

    async def sweep(self) -> int:
        """Remove the agents of dead nodes and expired stored frames; returns agents removed."""
        try:
            return await sweep_once(
                self._client,
                self._script,
                prefix=self._p,
                node_id=self.node_id,
                hold_ms=max(1, int(self.sweep_interval * 900)),
                store_ttl=self.store_ttl,
            )
        except BackendUnavailableError:
            raise
        except Exception as exc:
            raise BackendUnavailableError(f"gateway backend unavailable: {exc!r}") from exc
