"""Agent.run in this process: a signal stops it, and the signal handlers are put back."""

from __future__ import annotations

import asyncio
import os
import signal
from types import FrameType

import pytest
from support.gateway import Gateway
from support.waiting import eventually

from aiconexus import Agent, Identity

from .conftest import fast_options


async def test_sigterm_stops_run_and_the_previous_handler_is_restored(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    """run() returns normally on SIGTERM, logs start and stop, and restores the old handler."""
    seen: list[int] = []

    def mine(signum: int, frame: FrameType | None) -> None:
        seen.append(signum)

    previous = signal.signal(signal.SIGTERM, mine)
    try:
        agent = Agent(Identity.generate(), **fast_options())
        caplog.set_level("INFO", logger="aiconexus.agent")
        running = asyncio.create_task(agent.run(gateway.ws_url))
        await eventually(lambda: "connected at" in caplog.text, within=10)
        os.kill(os.getpid(), signal.SIGTERM)
        async with asyncio.timeout(10):
            await running
        assert f"agent {agent.did} stopped on SIGTERM: unregistered from {gateway.ws_url}" in (
            caplog.text
        )
        # the gateway tells the same story: UNREGISTER was read before the socket closed
        ended = f"disconnected reason=unregistered did={agent.did}"
        await asyncio.to_thread(gateway.wait_for_log, ended)
        assert f"disconnected reason=disconnected did={agent.did}" not in gateway.log()
        assert signal.getsignal(signal.SIGTERM) is mine
        assert seen == []
    finally:
        signal.signal(signal.SIGTERM, previous)


async def test_without_signal_handling_run_is_stopped_by_cancelling(
    gateway: Gateway,
) -> None:
    """handle_signals=False leaves the handlers alone; cancelling still stops run()."""
    before = signal.getsignal(signal.SIGINT)
    agent = Agent(Identity.generate(), **fast_options())
    running = asyncio.create_task(agent.run(gateway.ws_url, handle_signals=False))
    await eventually(lambda: agent.did in gateway.get("/agents").text, within=10)
    assert signal.getsignal(signal.SIGINT) is before
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
