"""Bounded waiting for a state another process exposes (e.g. ``/agents``) to change."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["eventually"]


async def eventually(condition: Callable[[], bool], within: float = 5.0) -> None:
    """Return once ``condition()`` is true; TimeoutError after ``within`` seconds.

    Polling is deliberate: the state lives in the gateway process and has no event to await.
    """
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - polling another process's HTTP state
            await asyncio.sleep(0.02)
