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
  pipelined connection (per-pair order), the frames of one loop turn for one node in one
  message (see :mod:`._redis_publish`); ``PUBLISH`` answers 0 when the node is gone, and
  the caller then stores the frame;
* offline store: one list per recipient, bounded per recipient and in total, with an age
  limit; after storing, the recipient's live node (if any) is told to drain. A session with
  recipient acknowledgements moves the list to a held list, and entries leave it only once
  acknowledged, so a crash of the node in between loses none.

When Redis is unreachable every call raises :class:`BackendUnavailableError` and
:meth:`RedisBackend.healthy` is False; the node reconnects by itself, re-subscribes,
re-announces itself and re-claims its live sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import ClassVar

if importlib.util.find_spec("redis") is None:  # pragma: no cover - depends on the extras
    raise ImportError(
        "STORAGE_TYPE=redis needs the Redis client: pip install 'aiconexus-gateway[redis]'"
    )

from aiconexus.protocol import format_timestamp
from aiconexus_gateway.backend._redis_codec import (
    record_from_json,
    record_json,
    replay_key,
    replay_marker,
    split_owner,
)
from aiconexus_gateway.backend._redis_node import RedisNode
from aiconexus_gateway.backend._redis_sweep import sweep_once, trim_expired
from aiconexus_gateway.backend._store_quota import frame_size
from aiconexus_gateway.backend.base import (
    AgentRecord,
    Backend,
    BackendUnavailableError,
    NodeHooks,
    StoreFullError,
    UnseenRecipientError,
)
from aiconexus_gateway.tasks import stop_task

__all__ = ["RedisBackend", "split_entry"]

_REFUSALS: dict[int, Callable[[], StoreFullError]] = {
    -1: lambda: StoreFullError("the offline store is full for this recipient"),
    -2: lambda: StoreFullError("the offline store is full"),
    -3: lambda: StoreFullError("the offline store holds as much as it takes from this sender"),
    -4: lambda: UnseenRecipientError(
        "recipient is not connected and never registered here (the share of the store for"
        " such agents is used up)"
    ),
}
"""Status codes of the STORE script -> the error refusing the frame."""


def split_entry(entry: str) -> tuple[int, str]:
    """``(stored_at_ms, frame)`` of an entry of a store list (see :mod:`._redis_scripts`)."""
    stamp, _, rest = entry.partition(":")
    head, sep, tail = rest.partition(":")
    if not sep or not head.isdigit():
        return int(stamp), rest  # written by an older version: <stored_at_ms>:<frame>
    _unseen, _, tail = tail.partition(":")
    length, _, tail = tail.partition(":")
    size = int(length)  # in UTF-8 bytes, as Lua counts
    if tail[:size].isascii():
        return int(stamp), tail[size:]
    return int(stamp), tail.encode("utf-8", "surrogatepass")[size:].decode("utf-8", "surrogatepass")


logger = logging.getLogger("aiconexus_gateway.backend.redis")

LIST_BATCH = 1000
"""Most DIDs one listing script reads from the index at a time."""


class RedisBackend(RedisNode, Backend):
    """Shared presence, replay window, node channels and offline store in Redis."""

    name: ClassVar[str] = "redis"
    remote_checks: ClassVar[bool] = True

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
        await asyncio.gather(*(stop_task(task) for task in self._tasks))
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
        self._claiming[record.did] = self._claiming.get(record.did, 0) + 1
        try:
            try:
                reply = await self._script(
                    "CLAIM",
                    record.did,
                    self.node_id,
                    record.session_id,
                    record_json(record),
                    *record.capabilities,
                )
            except BackendUnavailableError:
                if self._local.get(record.did) is record:
                    del self._local[record.did]  # the hub drops the session: never re-announce
                raise
            old = reply[1] if isinstance(reply, list) and len(reply) > 1 else None
            if old:
                try:
                    await self._tell_replaced(record.did, old)
                except BackendUnavailableError as exc:  # the claim itself holds
                    logger.warning("could not tell %s it was replaced: %s", old, exc)
        finally:
            self._claim_done(record.did)

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

    async def list_agents(
        self, capability: str | None = None, *, after: str | None = None, limit: int | None = None
    ) -> list[AgentRecord]:
        """Agents whose node is alive, by DID (after ``after``, at most ``limit``).

        Each round reads one slice of the DID-ordered index (one script call); agents of a
        dead node not yet swept are skipped and the next slice fills the page.
        """
        index = "dids" if capability is None else f"capdids:{capability}"
        found: list[AgentRecord] = []
        cursor = after
        while limit is None or len(found) < limit:
            want = LIST_BATCH if limit is None else min(LIST_BATCH, limit - len(found))
            reply = await self._script("LIST", index, "-" if cursor is None else f"({cursor}", want)
            if not reply:
                break
            cursor = str(reply[0])
            found.extend(
                record
                for record in map(record_from_json, reply[2:])
                if capability is None or capability in record.capabilities
            )
            if int(reply[1]) < want:
                break
        return found if limit is None else found[:limit]

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

    async def forget(self, sender: str, message_id: str) -> None:
        """Delete the marker of (sender, id) if still pending on this node (never handed on).

        Its frame was refused, or its outcome was unknown (INTERNAL_ERROR): a store that timed
        out may still have run, and then the marker says so and stays.
        """
        seen = replay_marker(sender, message_id)
        await self._pipelined_script("FORGET", seen, self.node_id, self._incarnation)

    # cross-node delivery --------------------------------------------------------------------
    async def send_to_node(self, node_id: str, recipient: str, frame: str) -> bool:
        """Publish ``frame`` on the node's channel; False if no live node received it."""
        if node_id == self.node_id:
            return self._require_hooks().deliver_local(recipient, frame)
        # Frames of one loop turn for one node leave together (see _redis_publish).
        receivers = await self._batches.add(node_id, recipient, frame, replay_key(frame))
        if receivers > 0:
            return True
        self._owners.invalidate(recipient)
        return False

    # offline store --------------------------------------------------------------------------
    async def store(
        self, recipient: str, frame: str, sender: str, message_id: str | None = None
    ) -> None:
        """Append ``frame`` to the recipient's list; tell its live session (if any) to drain."""
        lim = self.store_limits
        if lim.per_agent <= 0:
            raise StoreFullError("offline store is disabled")
        seen = replay_marker(sender, message_id) if message_id is not None else replay_key(frame)
        reply = await self._script(
            "STORE",
            recipient,
            int(time.time() * 1000),
            int(lim.ttl * 1000),
            frame,
            seen,
            sender,
            frame_size(frame),
            lim.per_agent,
            lim.total,
            lim.per_sender,
            lim.bytes_per_agent,
            lim.bytes_per_sender,
            lim.bytes_total,
            lim.bytes_unseen,
            self.node_id,
        )
        status, owner = int(reply[0]), reply[1] if len(reply) > 1 else None
        if status < 0:
            raise _REFUSALS.get(status, _REFUSALS[-2])()
        if owner and split_owner(owner)[0] == self.node_id:
            self._stored_available(recipient)  # another node was told by the script

    async def take_stored(self, recipient: str) -> list[str]:
        """Remove and return the unexpired frames stored for ``recipient``, oldest first."""
        now_ms = int(time.time() * 1000)
        entries: list[str] = await self._script(
            "TAKE", recipient, now_ms, self.store_limits.seen_max
        )
        oldest_ms = now_ms - int(self.store_ttl * 1000)
        return [frame for stamp, frame in map(split_entry, entries) if stamp >= oldest_ms]

    def observe_round_trips(self, observe: Callable[[float], None]) -> None:
        """Report the seconds of every Redis round trip (pipelined and plain) to ``observe``."""
        self._observe = observe
        self._pipe.observe = observe

    async def live_nodes(self) -> list[str]:
        """The announced nodes whose liveness key still exists."""
        members = await self._call(self._client.smembers(f"{self._p}nodes"))
        nodes = sorted(str(node) for node in members)
        if not nodes:
            return []
        flags = await self._call(self._client.mget([f"{self._p}node:{n}" for n in nodes]))
        return [node for node, flag in zip(nodes, flags, strict=True) if flag is not None]

    async def hold_stored(self, recipient: str, *, include_held: bool) -> list[tuple[str, str]]:
        """Move the recipient's list to its held list (kept until settled); (entry, frame)s."""
        now_ms = int(time.time() * 1000)
        ttl_ms = max(1, int(self.store_ttl * 1000))
        entries: list[str] = await self._script(
            "HOLD",
            recipient,
            "1" if include_held else "0",
            ttl_ms,
            now_ms,
            self.store_limits.seen_max,
        )
        oldest_ms = now_ms - int(self.store_ttl * 1000)
        held: list[tuple[str, str]] = []
        expired: list[str] = []
        for entry in entries:
            stamp, frame = split_entry(entry)
            if stamp >= oldest_ms:
                held.append((entry, frame))
            else:
                expired.append(entry)
        if expired:
            await self.settle_held(recipient, expired)
        return held

    async def settle_held(self, recipient: str, tokens: list[str]) -> None:
        """Remove acknowledged entries from the recipient's held list."""
        await self._script("SETTLE", recipient, *tokens)

    async def unhold(self, recipient: str, tokens: list[str]) -> None:
        """Put held entries back at the head of the store list, in order (see the base)."""
        owner = await self._script("UNHOLD", recipient, self.node_id, *tokens)
        if owner and split_owner(owner)[0] == self.node_id:
            self._stored_available(recipient)

    async def stored_count(self) -> int:
        """Number of frames held by the store, cluster-wide."""
        value = await self._call(self._client.get(f"{self._p}store_total"))
        return max(0, int(value or 0))

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
