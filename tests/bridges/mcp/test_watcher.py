"""The bridge's directory watcher: change events bring a new agent's tools at once.

The poll is set to a minute, so only the gateway's change events (``GET /agents/events``)
can bring an arrival or a departure within the deadline; with the events off, the poll alone
still does (the fallback).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from support.inprocess import InProcessGateway

from aiconexus_gateway.bridges.mcp import ToolWatcher

from .conftest import StartAgent

DEADLINE_S = 10.0
"""For failing only: with the events a change shows within milliseconds."""


@asynccontextmanager
async def watching(
    gateway: InProcessGateway, *, interval_s: float, events: bool = True
) -> AsyncIterator[ToolWatcher]:
    """A started watcher of ``gateway`` (stopped after the block)."""
    watcher = ToolWatcher(gateway.ws_url, interval_s=interval_s, events=events)
    await watcher.refresh()
    await watcher.start()
    try:
        yield watcher
    finally:
        await watcher.stop()


async def until(watcher: ToolWatcher, tool: str, *, present: bool) -> float:
    """Seconds until ``tool`` is (or is no longer) in the watcher's catalog."""
    start = time.monotonic()
    async with asyncio.timeout(DEADLINE_S):
        while (watcher.catalog.get(tool) is not None) != present:
            await watcher.wait_for_change(DEADLINE_S)
    return time.monotonic() - start


async def test_a_new_agents_tool_is_listed_at_once(
    mcp_gateway: InProcessGateway, start_agent: StartAgent
) -> None:
    """Polling once a minute, an arrival and a departure still show within the deadline."""
    changes: list[float] = []

    async def on_change() -> None:
        changes.append(time.monotonic())

    async with watching(mcp_gateway, interval_s=60.0) as watcher:
        watcher.on_change(on_change)
        async with asyncio.timeout(DEADLINE_S):
            while not watcher.streaming:  # noqa: ASYNC110 - the first event is on its way
                await asyncio.sleep(0.01)
        assert watcher.catalog.get("watch-prompt") is None
        async with start_agent(["watch-prompt"]):
            await until(watcher, "watch-prompt", present=True)
        await until(watcher, "watch-prompt", present=False)
    assert len(changes) == 2


async def test_without_events_the_poll_still_follows(
    mcp_gateway: InProcessGateway, start_agent: StartAgent
) -> None:
    """events=False: the directory is read every interval_s, and the tool still appears."""
    async with watching(mcp_gateway, interval_s=0.05, events=False) as watcher:
        async with start_agent(["watch-polled"]):
            await until(watcher, "watch-polled", present=True)
        assert not watcher.streaming
