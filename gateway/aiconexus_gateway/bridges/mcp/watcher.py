"""The directory, followed: the current :class:`Catalog` and word of its changes.

``GET /agents`` is the only view a bridge has of who is online (it is a client of the
gateway, like any agent). The watcher follows the gateway's change events
(``GET /agents/events``, :func:`aiconexus.directory_changes`) and reads the directory again
on each, so a new agent's tools are listed (and ``tools/list_changed`` sent) a moment
after it registers. It also reads the directory every ``interval_s`` seconds: the fallback
for a gateway without the event stream, or while the stream is down, and for changes on
other nodes of a cluster (the stream announces its own node's). It keeps the last good
catalog while the gateway cannot be reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import httpx

from aiconexus import directory_changes, list_agents

from .catalog import Catalog

__all__ = ["DirectoryWatcher"]

Listener = Callable[[], Awaitable[None]]


class DirectoryWatcher:
    """Follows the gateway's directory (see the module); ``agents_token``: AGENTS_TOKEN.

    ``interval_s``: seconds between two reads of the directory (the fallback);
    ``events``: False to only poll.
    """

    def __init__(
        self,
        gateway_url: str,
        *,
        interval_s: float = 2.0,
        agents_token: str | None = None,
        events: bool = True,
        logger: logging.Logger | None = None,
    ) -> None:
        self.gateway_url = gateway_url
        self.interval_s = interval_s
        self.agents_token = agents_token
        self.events = events
        self.catalog = Catalog()
        self.streaming = False
        """True while the gateway's change events arrive."""
        self._logger = logger or logging.getLogger("aiconexus_gateway.bridges.mcp")
        self._listeners: list[Listener] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._read_once = False
        self._reading = asyncio.Lock()
        self._changed = asyncio.Event()
        self._http: httpx.AsyncClient | None = None

    def on_change(self, listener: Listener) -> None:
        """Await ``listener()`` each time the tools change (names, descriptions or schemas)."""
        self._listeners.append(listener)

    async def refresh(self) -> bool:
        """Read the directory once; True when the tools changed."""
        async with self._reading:  # one read at a time: a late answer never undoes a newer one
            try:
                agents = await list_agents(
                    self.gateway_url, token=self.agents_token, http=self._client()
                )
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
            self._changed.set()
            self._changed = asyncio.Event()
            for listener in list(self._listeners):
                await listener()
        return changed

    async def wait_for_change(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the tools to change; True if they did."""
        changed = self._changed
        try:
            async with asyncio.timeout(timeout):
                await changed.wait()
        except TimeoutError:
            return False
        return True

    def _client(self) -> httpx.AsyncClient:
        # one client for every read: a new one costs a TLS context and a TCP connection
        if self._http is None:
            self._http = httpx.AsyncClient(trust_env=False)
        return self._http

    async def start(self) -> None:
        """Follow the directory in the background, from now on."""
        if not self._tasks:
            self._tasks.append(asyncio.create_task(self._poll(), name="aiconexus-mcp-directory"))
            if self.events:
                self._tasks.append(asyncio.create_task(self._follow(), name="aiconexus-mcp-events"))

    async def stop(self) -> None:
        """Stop following."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()

    async def _read(self) -> None:
        try:
            await self.refresh()
        except Exception:  # a listener's failure must not end the watch
            self._logger.exception("refreshing the MCP tools failed")

    async def _poll(self) -> None:
        while True:
            await self._read()
            await asyncio.sleep(self.interval_s)

    async def _follow(self) -> None:
        """Read the directory on each change event; reconnect after ``interval_s`` on errors."""
        while True:
            try:
                changes = directory_changes(
                    self.gateway_url, token=self.agents_token, http=self._client()
                )
                async with contextlib.aclosing(changes):
                    async for _version in changes:
                        self.streaming = True
                        await self._read()
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code in (404, 405):
                    self._logger.info(
                        "the gateway has no directory events: reading it every %gs", self.interval_s
                    )
                    return
                self._logger.debug("the directory events answered %r", exc)
            except (httpx.HTTPError, ValueError) as exc:
                self._logger.debug("the directory events stopped: %r", exc)
            finally:
                self.streaming = False
            await asyncio.sleep(self.interval_s)
