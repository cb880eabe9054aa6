"""The directory, read again and again: the current :class:`Catalog` and word of its changes.

``GET /agents`` is the only view a bridge has of who is online (it is a client of the
gateway, like any agent), so the watcher reads it every ``interval_s`` seconds and keeps
the last good catalog while the gateway cannot be reached.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import httpx

from aiconexus import list_agents

from .catalog import Catalog

__all__ = ["DirectoryWatcher"]

Listener = Callable[[], Awaitable[None]]


class DirectoryWatcher:
    """Reads the gateway's directory every ``interval_s`` (``agents_token``: AGENTS_TOKEN)."""

    def __init__(
        self,
        gateway_url: str,
        *,
        interval_s: float = 2.0,
        agents_token: str | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.gateway_url = gateway_url
        self.interval_s = interval_s
        self.agents_token = agents_token
        self.catalog = Catalog()
        self._logger = logger or logging.getLogger("aiconexus_gateway.bridges.mcp")
        self._listeners: list[Listener] = []
        self._task: asyncio.Task[None] | None = None
        self._read_once = False
        self._http: httpx.AsyncClient | None = None

    def on_change(self, listener: Listener) -> None:
        """Await ``listener()`` each time the tools change (names, descriptions or schemas)."""
        self._listeners.append(listener)

    async def refresh(self) -> bool:
        """Read the directory once; True when the tools changed."""
        try:
            agents = await list_agents(self.gateway_url, token=self.agents_token, http=self._client())
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            # before the first success the gateway may still be starting (embedded bridge)
            level = logging.WARNING if self._read_once else logging.DEBUG
            self._logger.log(level, "reading the gateway's directory failed: %r", exc)
            return False
        self._read_once = True
        catalog = Catalog(agents)
        catalog.adopt_turns(self.catalog)
        changed = catalog.signature() != self.catalog.signature()
        self.catalog = catalog
        if changed:
            for listener in list(self._listeners):
                await listener()
        return changed

    def _client(self) -> httpx.AsyncClient:
        # one client for every read: a new one costs a TLS context and a TCP connection
        if self._http is None:
            self._http = httpx.AsyncClient(trust_env=False)
        return self._http

    async def start(self) -> None:
        """Read the directory every ``interval_s`` seconds in the background, from now on."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="aiconexus-mcp-directory")

    async def stop(self) -> None:
        """Stop reading."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()

    async def _run(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:  # a listener's failure must not end the watch
                self._logger.exception("refreshing the MCP tools failed")
            await asyncio.sleep(self.interval_s)
