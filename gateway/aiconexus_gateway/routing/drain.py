"""Graceful drain at shutdown: let sessions finish what they hold, for a bounded time.

While the gateway drains (``Hub.stopping``) it takes no new connections and no new frames
(a frame read then gets neither ACK nor ERROR, so its sender sends it again after it
reconnected, e.g. to another node) and hands its sessions no more stored frames, but it keeps
writing what sessions have queued and keeps reading recipient acknowledgements. The drain
ends when no session has an agent frame queued or in flight, no ACK is still being decided
or signed and every gateway frame queued (ACK, ERROR) went out, or after DRAIN_TIMEOUT; the
caller then closes every session with 1001, which hands what is left to the store.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
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


def _owes(session: Session) -> bool:
    """True while ``session`` holds an agent frame or has a gateway frame left to write."""
    return not session.closed and bool(session.held_frames or session.queue.answers)


async def wait_drained(
    sessions: Iterable[Session], timeout: float, replies_pending: Callable[[], bool]
) -> float:
    """Wait until no session owes a frame and no ACK is pending, at most ``timeout`` s.

    Returns the seconds waited. ``replies_pending`` tells whether an ACK is still being
    coalesced or signed (it becomes a queued gateway frame once signed).
    """
    started = time.monotonic()
    live = [s for s in sessions if not s.closed]
    deadline = started + timeout
    while time.monotonic() < deadline:
        live = [s for s in live if _owes(s)]
        if not live and not replies_pending():
            break
        await asyncio.sleep(POLL_S)
    return time.monotonic() - started
