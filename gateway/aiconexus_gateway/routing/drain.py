"""Graceful drain at shutdown: let sessions finish what they hold, for a bounded time.

While the gateway drains (``Hub.stopping``) it takes no new connections and no new frames
(a frame read then gets neither ACK nor ERROR, so its sender sends it again after it
reconnected, e.g. to another node) and hands its sessions no more stored frames, but it keeps
writing what sessions have queued and keeps reading recipient acknowledgements. The drain
ends when no session has an agent frame queued or in flight, or after DRAIN_TIMEOUT; the
caller then closes every session with 1001, which hands what is left to the store.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass

from .session import Session

__all__ = ["DrainReport", "held_frames", "wait_drained"]

POLL_S = 0.02
"""How often the drain looks at the sessions."""


@dataclass(frozen=True, slots=True)
class DrainReport:
    """What a drain did: sessions it waited for, frames that went out, frames left over."""

    sessions: int
    delivered: int
    left: int
    seconds: float


def held_frames(session: Session) -> int:
    """Agent frames ``session`` still holds: queued, or written and not yet acknowledged."""
    return session.held_frames


async def wait_drained(sessions: Iterable[Session], timeout: float) -> float:
    """Wait until no session holds an agent frame, at most ``timeout`` s; seconds waited."""
    started = time.monotonic()
    live = [s for s in sessions if not s.closed]
    deadline = started + timeout
    while time.monotonic() < deadline:
        live = [s for s in live if not s.closed and held_frames(s)]
        if not live:
            break
        await asyncio.sleep(POLL_S)
    return time.monotonic() - started
