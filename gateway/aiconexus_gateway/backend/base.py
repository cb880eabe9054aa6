"""The backend interface: presence, replay detection, cross-node delivery and the offline store.

A gateway node keeps its own live WebSocket sessions in memory; everything that must be shared
between nodes goes through a :class:`Backend`. The in-memory backend serves one process; the
SQLite backend serves one process whose offline store survives restarts; the Redis backend
lets several nodes act as one gateway.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from ..errors import GatewayError

__all__ = [
    "AgentRecord",
    "Backend",
    "BackendUnavailableError",
    "NodeHooks",
    "StoreFullError",
    "UnseenRecipientError",
]


class BackendUnavailableError(GatewayError):
    """The shared backend (e.g. Redis) cannot be reached right now."""


class StoreFullError(GatewayError):
    """The offline store refused a frame: a per-recipient, per-sender or total bound is reached.

    Answered with ERROR ``QUEUE_FULL``.
    """


class UnseenRecipientError(StoreFullError):
    """The recipient never registered here and the share of such recipients is used up.

    Answered with ERROR ``UNKNOWN_AGENT`` (see ``STORE_MAX_BYTES_UNSEEN``).
    """


@dataclass(frozen=True, slots=True)
class AgentRecord:
    """One registered agent, as listed by ``GET /agents``."""

    did: str
    capabilities: tuple[str, ...]
    metadata: dict[str, Any]
    connected_at: str
    last_seen: str
    node_id: str
    session_id: str
    extra: dict[str, Any] = field(default_factory=dict)
    capability_info: dict[str, Any] = field(default_factory=dict)
    """Per-capability declarations from REGISTER's ``capability_info`` (PROTOCOL.md 6.1)."""

    def public(self) -> dict[str, Any]:
        """The JSON object published by ``GET /agents`` (``capability_info`` only when declared)."""
        public = {
            "did": self.did,
            "capabilities": list(self.capabilities),
            "metadata": self.metadata,
            "connected_at": self.connected_at,
            "last_seen": self.last_seen,
        }
        if self.capability_info:
            public["capability_info"] = self.capability_info
        return public


class NodeHooks(Protocol):
    """What a backend may call back into on its own node."""

    @property
    def node_id(self) -> str:
        """The id of this node."""
        ...

    def deliver_local(self, recipient: str, frame: str) -> bool:
        """Hand ``frame`` to the live local session of ``recipient``; False if there is none."""
        ...

    def replaced(self, did: str, session_id: str) -> None:
        """The local session ``session_id`` of ``did`` was superseded elsewhere: close it."""
        ...

    def stored_available(self, did: str) -> None:
        """Frames were stored for ``did`` while it has a live local session: drain them."""
        ...


class Backend(ABC):
    """Shared state of one gateway (one node, or a cluster of nodes)."""

    name: ClassVar[str]
    remote_checks: ClassVar[bool] = False
    """True when :meth:`first_seen` waits on another process: a connection's next frames are
    then read and checked while earlier ones wait for their answer (routed in order)."""

    @abstractmethod
    async def start(self, hooks: NodeHooks) -> None:
        """Connect and begin serving callbacks to ``hooks``."""

    @abstractmethod
    async def close(self) -> None:
        """Release every resource; this node's agents leave presence."""

    @abstractmethod
    async def healthy(self) -> bool:
        """True while the backend can route (e.g. Redis answers PING)."""

    # presence -------------------------------------------------------------------------------
    @abstractmethod
    async def claim(self, record: AgentRecord) -> None:
        """Make ``record`` the one live session of its DID, cluster-wide.

        An older session of the same DID, on this node or another, is told to close through
        :meth:`NodeHooks.replaced` on its node.
        """

    @abstractmethod
    async def release(self, did: str, session_id: str) -> None:
        """Remove ``did`` from presence if ``session_id`` still owns it."""

    @abstractmethod
    async def refresh(self, records: Sequence[AgentRecord]) -> None:
        """Keep this node's sessions present (called every CLEANUP_INTERVAL)."""

    @abstractmethod
    async def owner(self, did: str) -> AgentRecord | None:
        """The live session of ``did`` anywhere in the cluster, or None."""

    @abstractmethod
    async def list_agents(
        self, capability: str | None = None, *, after: str | None = None, limit: int | None = None
    ) -> list[AgentRecord]:
        """Live agents (cluster-wide) ordered by DID, optionally only those with ``capability``.

        ``after`` keeps the DIDs that sort after it (a page's cursor); ``limit`` bounds how
        many are returned (None: all). A listing with a limit must cost about O(log n +
        limit), whatever the number n of agents: backends keep their agents ordered by DID.
        """

    # replay detection ----------------------------------------------------------------------
    @abstractmethod
    async def first_seen(self, sender: str, message_id: str, window_s: float) -> bool:
        """Record (sender, id); True if it was not seen within ``window_s`` seconds."""

    async def forget(self, sender: str, message_id: str) -> None:
        """Drop the record of (sender, id): the frame was refused, its id may be used again.

        Only called after :meth:`first_seen` returned True for that pair. The default keeps
        the record (the id stays used up).
        """
        return

    def handed_on(self, sender: str, message_id: str) -> None:
        """The frame (sender, id) was written to its recipient's connection on this node.

        Must not block: a durable backend schedules the write of the frame's replay marker
        here (the marker of a stored frame is kept with the frame). The default does nothing.
        """
        return

    # cross-node delivery -------------------------------------------------------------------
    @abstractmethod
    async def send_to_node(self, node_id: str, recipient: str, frame: str) -> bool:
        """Deliver ``frame`` to ``recipient``'s session on another node; False if unreachable."""

    # offline store -------------------------------------------------------------------------
    @abstractmethod
    async def store(
        self, recipient: str, frame: str, sender: str, message_id: str | None = None
    ) -> None:
        """Keep ``frame`` from ``sender`` for ``recipient`` until it registers.

        Raises StoreFullError (a bound of the recipient, of the sender or of the whole store
        is reached) or its subclass UnseenRecipientError. ``message_id`` is the frame's id
        when it is stored for the first time (a durable backend keeps its replay marker with
        it). Returns once the frame is kept (committed, for a durable backend).
        """

    async def begin_store(
        self, recipient: str, frame: str, sender: str, message_id: str | None = None
    ) -> asyncio.Future[None] | None:
        """Like :meth:`store`, but may return before the frame is kept.

        Once it returns, the frame's place in the store is taken (an operation begun after it
        sees it); the returned future, if any, completes once the frame is kept (with
        BackendUnavailableError if it could not be). Refusals raise here, as in :meth:`store`.
        The default stores completely and returns None.
        """
        await self.store(recipient, frame, sender, message_id)
        return None

    @abstractmethod
    async def take_stored(self, recipient: str) -> list[str]:
        """Remove and return the frames stored for ``recipient``, oldest first, unexpired.

        Called when ``recipient`` has a live session: the backend also remembers it as an
        agent that registered (see UnseenRecipientError).
        """

    async def hold_stored(self, recipient: str, *, include_held: bool) -> list[tuple[str, str]]:
        """Move the stored frames of ``recipient`` to its held frames and return them.

        Returns (token, frame) pairs, oldest first; with ``include_held`` the frames held
        already (taken by an earlier session and never settled) come first. A held frame
        stays in the backend, surviving a crash of the gateway, until :meth:`settle_held`.
        The default holds nothing: it takes the frames (token "") as :meth:`take_stored`.
        """
        return [("", frame) for frame in await self.take_stored(recipient)]

    async def settle_held(self, recipient: str, tokens: list[str]) -> None:
        """Drop the held frames ``tokens`` of ``recipient`` (their delivery was acknowledged)."""
        return

    async def unhold(self, recipient: str, tokens: list[str]) -> None:
        """Put held frames back at the head of the store, in order: nobody took them.

        Only called with tokens from :meth:`hold_stored` (never "" ones).
        """
        return

    @abstractmethod
    async def stored_count(self) -> int:
        """How many frames the store holds in all (for /health and metrics)."""

    # observability (defaults for one node) --------------------------------------------------
    async def stored_bytes(self) -> int | None:
        """Bytes (UTF-8) of frame text the store holds, or None when the backend cannot tell."""
        return None

    async def live_nodes(self) -> list[str]:
        """Ids of the live gateway nodes sharing this backend; [] for a single node."""
        return []

    def observe_round_trips(self, observe: Callable[[float], None]) -> None:
        """Call ``observe(seconds)`` once per round trip to a remote store (default: none)."""
        return
