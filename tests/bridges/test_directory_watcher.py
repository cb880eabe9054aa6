"""The bridges' directory watcher started before its gateway listens (as an embedded bridge is).

The poll is set to a minute, so only the quick retries of the first read and of the event
stream can bring the gateway's agents within the deadline.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from support.inprocess import InProcessGateway

from aiconexus import Agent, Identity
from aiconexus_gateway.bridges.directory import DirectoryWatcher

DEADLINE_S = 10.0
"""For failing only: the retries start at 50 ms."""


async def test_a_watcher_started_before_the_gateway_catches_up(tmp_path: Path) -> None:
    """Reads and the event stream fail while nothing listens, then follow within moments."""
    gateway = InProcessGateway({"STORAGE_TYPE": "memory"}, tmp_path / "gw")
    watcher = DirectoryWatcher(gateway.ws_url, interval_s=60.0)
    await watcher.start()
    try:
        async with asyncio.timeout(DEADLINE_S):
            while watcher.reads == 0:  # noqa: ASYNC110 - the first attempt is on its way
                await asyncio.sleep(0.01)
        assert not watcher.agents and not watcher.streaming
        await asyncio.to_thread(gateway.start)
        agent = Agent(Identity.generate(), capabilities=["late-gateway"])
        async with agent.connect(gateway.ws_url):
            async with asyncio.timeout(DEADLINE_S):
                while agent.did not in watcher.agents:
                    await watcher.wait_for_change(DEADLINE_S)
            assert watcher.agents[agent.did].capabilities == ("late-gateway",)
        async with asyncio.timeout(DEADLINE_S):
            while agent.did in watcher.agents:  # the stream is up: the departure comes with it
                await watcher.wait_for_change(DEADLINE_S)
        assert watcher.streaming
    finally:
        await watcher.stop()
        await asyncio.to_thread(gateway.stop)
