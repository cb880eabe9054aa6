"""Frames of one connection handled at once, in order, while their checks wait elsewhere.

With a backend whose replay check is a round trip, or signatures verified in batches off the
loop, a connection hands each frame's handling to a task given the previous one, so that its
check leaves with those of the frames before it while their routing stays in order. How many
run at once is earned (:func:`pipeline_depth`): it starts at one and falls back to one at a
refusal, so a flood of bad frames is handled one at a time; the frames running at once hold
at most :data:`PIPELINE_CHARS` characters.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["PIPELINE_CHARS", "PIPELINE_DEPTH", "Pipeline", "pipeline_depth"]

PIPELINE_DEPTH = 64
"""Most frames of one connection handled at once (replay check remote, or batched signatures)."""
PIPELINE_CHARS = 1 << 20
"""Most characters of frames of one connection handled at once (a larger frame waits alone)."""


def pipeline_depth(depth: int, streak: int) -> int:
    """Frames of one connection handled at once after one more frame's handling ended.

    Doubles (up to PIPELINE_DEPTH) while the connection's frames pass, back to 1 while its
    refusal ``streak`` runs: a peer sending bad signatures has one in verification at a time.
    """
    return 1 if streak else min(PIPELINE_DEPTH, depth * 2)


Handling = Callable[[asyncio.Future[None] | None], Coroutine[Any, Any, None]]
"""Handles one frame once the handling of the frame before it (given, or None) is done."""


class Pipeline:
    """The frames of one connection being handled; ``streak()`` is its refusal streak now."""

    __slots__ = ("_depth", "_held", "_running", "_streak")

    def __init__(self, streak: Callable[[], int]) -> None:
        self._running: deque[tuple[asyncio.Task[None], int]] = deque()
        self._depth = 1
        self._held = 0  # characters of the frames running
        self._streak = streak

    async def make_room(self) -> None:
        """Let finished handlings go; wait for the oldest while the depth is reached."""
        running = self._running
        while running and running[0][0].done():
            await self._finish_first()
        if len(running) >= self._depth:
            await self._finish_first()

    async def add(self, size: int, handling: Handling) -> None:
        """Start handling a frame of ``size`` characters after those already running."""
        running = self._running
        while running and self._held + size > PIPELINE_CHARS:
            await self._finish_first()
        previous = running[-1][0] if running else None
        task = asyncio.get_running_loop().create_task(handling(previous))
        running.append((task, size))
        self._held += size

    async def finish(self) -> None:
        """Wait until every frame taken is handled (before the connection is let go)."""
        while self._running:
            await self._finish_first()

    async def _finish_first(self) -> None:
        task, size = self._running[0]
        if not task.done():
            await asyncio.wait((task,))
        self._running.popleft()
        self._held -= size
        self._depth = pipeline_depth(self._depth, self._streak())
