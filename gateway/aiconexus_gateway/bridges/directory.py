"""The gateway's directory, followed: the agents it lists now and word of their changes.

``GET /agents`` is the only view a bridge has of who is online (it is a client of the
gateway, like any agent). :class:`DirectoryWatcher` follows the gateway's change events
(``GET /agents/events``, :func:`aiconexus.directory_changes`) and reads the directory again
on each, so an agent that registers or leaves is seen a moment later. It also reads the
directory every ``interval_s`` seconds: the fallback for a gateway without the event stream,
or while the stream is down, and for changes on other nodes of a cluster (the stream
announces its own node's). Until the first read succeeds (an embedded bridge starts before
its gateway listens) both are retried sooner, from 50 ms doubling up to ``interval_s`` (with
jitter, :class:`aiconexus.Backoff`); so is the event stream after it broke. It
keeps the last good listing while the gateway cannot be reached.

Both bridges follow the directory through it: the MCP bridge's tools
(:class:`~aiconexus_gateway.bridges.mcp.watcher.ToolWatcher`) and the A2A bridge's cards
(:class:`~aiconexus_gateway.bridges.a2a.cards.AgentCards`). A caller that needs a read
sooner than the next one (a DID it does not know while no events arrive) asks with
:meth:`DirectoryWatcher.read_soon`: however many ask, the directory is read at most once
per ``min_read_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import httpx

from aiconexus import AgentInfo, Backoff, directory_changes, list_agents

__all__ = ["FIRST_RETRY_S", "DirectoryWatcher", "Listener", "listing_key"]

Listener = Callable[[], Awaitable[None]]
"""Awaited after each read that changed what the watcher's users see."""

FIRST_RETRY_S = 0.05
"""The first retry delay (before jitter) after a failed read or a broken event stream."""


def listing_key(agent: AgentInfo) -> tuple[Any, ...]:
    """What a bridge uses of one listed agent (``last_seen`` and ``connected_at`` left out)."""
    return agent.capabilities, agent.metadata, agent.declarations


class DirectoryWatcher:
    """Follows the gateway's directory (see the module); ``agents_token``: AGENTS_TOKEN.

    ``interval_s``: seconds between two reads of the directory (the fallback);
    ``events``: False to only poll; ``min_read_s``: least time between two reads asked by
    :meth:`read_soon`.
    """

    def __init__(
        self,
        gateway_url: str,
        *,
        interval_s: float = 2.0,
        agents_token: str | None = None,
        events: bool = True,
        min_read_s: float = 0.5,
        logger: logging.Logger | None = None,
    ) -> None:
        self.gateway_url = gateway_url
        self.interval_s = interval_s
        self.agents_token = agents_token
        self.events = events
        self.min_read_s = min_read_s
        self.agents: Mapping[str, AgentInfo] = {}
        """The agents of the last good read, by DID."""
        self.streaming = False
        """True while the gateway's change events arrive."""
        self.reads = 0
        """How many times the directory was read (each a walk of every page)."""
        self._logger = logger or logging.getLogger("aiconexus_gateway.bridges")
        self._listeners: list[Listener] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._read_once = False
        self._last_read = 0.0
        self._reading = asyncio.Lock()
        self._changed = asyncio.Event()
        self._wake = asyncio.Event()
        self._http: httpx.AsyncClient | None = None
        self._retries = Backoff(
            initial_delay=FIRST_RETRY_S, max_delay=max(interval_s, FIRST_RETRY_S)
        )

    def on_change(self, listener: Listener) -> None:
        """Await ``listener()`` after each read that changed what this watcher shows."""
        self._listeners.append(listener)

    def adopt(self, agents: Iterable[AgentInfo]) -> bool:
        """Take a new listing; True when it changed (a subclass derives its own view here)."""
        listing = {agent.did: agent for agent in agents}
        changed = listing.keys() != self.agents.keys() or any(
            listing_key(agent) != listing_key(self.agents[did]) for did, agent in listing.items()
        )
        self.agents = listing
        return changed

    async def refresh(self) -> bool:
        """Read the directory once; True when what this watcher shows changed."""
        async with self._reading:  # one read at a time: a late answer never undoes a newer one
            self._last_read = time.monotonic()
            self.reads += 1
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
            changed = self.adopt(agents)
        if changed:
            try:
                for listener in list(self._listeners):
                    await listener()
            finally:  # waiters wake once every listener has taken the change (or failed)
                self._changed.set()
                self._changed = asyncio.Event()
        return changed

    def read_soon(self) -> None:
        """Have the directory read now, or ``min_read_s`` after the last read (coalesced)."""
        self._wake.set()

    async def wait_for_change(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for what this watcher shows to change; True if it did."""
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
            self._tasks.append(asyncio.create_task(self._poll(), name="aiconexus-directory"))
            if self.events:
                self._tasks.append(
                    asyncio.create_task(self._follow(), name="aiconexus-directory-events")
                )

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
            self._logger.exception("following the gateway's directory failed")

    async def _poll(self) -> None:
        """Read every ``interval_s`` (sooner until the first success, or when asked)."""
        retries = self._retries.delays()
        while True:
            await self._read()
            wait = self.interval_s if self._read_once else next(retries)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()
            self._wake.clear()
            early = self._last_read + self.min_read_s - time.monotonic()
            if early > 0:
                await asyncio.sleep(early)

    async def _follow(self) -> None:
        """Read the directory on each change event; reconnect after errors."""
        retries = self._retries.delays()
        while True:
            try:
                changes = directory_changes(
                    self.gateway_url, token=self.agents_token, http=self._client()
                )
                async with contextlib.aclosing(changes):
                    async for _version in changes:
                        self.streaming = True
                        retries = self._retries.delays()  # short again after a success
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
            await asyncio.sleep(next(retries))
