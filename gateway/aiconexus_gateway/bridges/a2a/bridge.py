"""The A2A bridge assembled: callers, pool, task store, directory, cards, tasks, handler, app.

:class:`A2ABridge` is what both ways of running the bridge use: inside the gateway
(``A2A_ENABLED=true``, see :mod:`..embed`) and standalone (:mod:`.cli`). ``start()`` reopens
the callers of open tasks (their answers may be waiting); ``stop()`` closes everything.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from ..callers import Callers
from ..directory import DirectoryWatcher
from ..pool import ClientPool
from .app import MAX_BODY_BYTES, A2AApp
from .cards import AgentCards
from .handler import BridgeRequestHandler
from .remote import RemoteAgents
from .runner import TaskRunner
from .store import TaskStore, open_store

__all__ = ["A2ABridge", "BridgeConfig"]

logger = logging.getLogger("aiconexus.bridge.a2a")


@dataclass(frozen=True, slots=True)
class BridgeConfig:
    """What the A2A bridge needs to know."""

    gateway_url: str
    """The gateway's WebSocket URL (``ws://host:port/ws``)."""
    public_url: str
    """The public HTTP base under which ``/a2a/<DID>`` is reached."""
    callers: Callers
    storage_type: str = "memory"
    sqlite_path: Path = Path("a2a-tasks.db")
    redis_url: str = "redis://127.0.0.1:6379/0"
    agents_token: str | None = None
    timeout_s: float = 30.0
    max_body_bytes: int = MAX_BODY_BYTES
    max_clients: int = 256
    idle_s: float = 300.0
    gateway_did: str | None = None
    remote_agents: tuple[str, ...] = field(default_factory=tuple)
    remote_secret: bytes = b""
    encrypt_all: bool = False
    """Seal every request (the gateway requires encrypted EXEC_REQUESTs: REQUIRE_ENCRYPTION)."""
    directory_poll_s: float = 2.0
    """Seconds between two reads of the directory besides its change events (the fallback)."""


class A2ABridge:
    """One A2A bridge (see the module); ``app`` is its ASGI application for ``/a2a``."""

    def __init__(self, config: BridgeConfig, store: TaskStore | None = None) -> None:
        self.config = config
        self.store = store or open_store(
            config.storage_type, sqlite_path=config.sqlite_path, redis_url=config.redis_url
        )
        self.pool = ClientPool(
            config.gateway_url,
            max_clients=config.max_clients,
            idle_s=config.idle_s,
            gateway_did=config.gateway_did,
            agent_card=False,
            recipient_acks=False,
            on_rate_limited="raise",
        )
        self.watcher = DirectoryWatcher(
            config.gateway_url,
            interval_s=config.directory_poll_s,
            agents_token=config.agents_token,
            logger=logger,
        )
        self.cards = AgentCards(
            self.watcher, config.public_url, self.store, agents_token=config.agents_token
        )
        self.runner = TaskRunner(
            self.pool,
            config.callers,
            self.store,
            timeout_s=config.timeout_s,
            encrypt=config.encrypt_all,
        )
        self.handler = BridgeRequestHandler(self.runner)
        self.app = A2AApp(
            self.handler,
            config.callers,
            self.cards,
            directory_token=config.agents_token,
            max_body_bytes=config.max_body_bytes,
        )
        self.remote = RemoteAgents(
            config.gateway_url,
            config.remote_agents,
            config.remote_secret,
            gateway_did=config.gateway_did,
        )

    async def start(self) -> None:
        """Follow the directory, reopen the callers of open tasks, start the outbound proxies."""
        await self.watcher.start()
        waiting = await self.runner.resume()
        if waiting:
            logger.info("A2A bridge: %d open tasks await their answers", waiting)
        await self.remote.start()

    async def stop(self) -> None:
        """Close the proxies, the clients, the directory's readers and the store (each, always)."""
        steps = (
            self.remote.stop,
            self.runner.aclose,
            self.pool.close,
            self.watcher.stop,
            self.cards.close,
        )
        for step in (*steps, self.store.close):
            try:
                await step()
            except Exception:
                logger.exception("stopping the A2A bridge: %s failed", step.__qualname__)
