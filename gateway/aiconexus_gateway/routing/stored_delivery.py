"""Stored frames for a session: after REGISTERED, and whenever more were stored for it.

A drain goes through the recipient's store lane (:mod:`.lanes`), so frames stored before the
session appeared reach it before frames routed to it live. While the backend is unreachable
a drain is tried again later, with a growing pause (DRAIN_RETRY: 0.25 s doubling up to 5 s).
"""

from __future__ import annotations

import asyncio
import logging

from aiconexus.backoff import Backoff

from .frames import GatewayFrames
from .lanes import StoreLanes
from .session import Session, SessionState

__all__ = ["DRAIN_RETRY", "StoredDelivery"]

logger = logging.getLogger("aiconexus.gateway")

DRAIN_RETRY = Backoff(initial_delay=0.25, max_delay=5.0, jitter=0.0)
"""Pauses between two drains of a session while the backend is unreachable."""


class StoredDelivery:
    """Hands registered sessions the frames the store kept for them."""

    def __init__(self, lanes: StoreLanes, frames: GatewayFrames, heartbeat_interval: float) -> None:
        self._lanes = lanes
        self._frames = frames
        self._heartbeat = heartbeat_interval

    def drain(self, session: Session, register_id: str | None) -> None:
        """Hand ``session`` its stored frames (REGISTERED first when ``register_id`` is set).

        Held frames of earlier sessions come first on the session's first drain, and on
        every drain after one that found the backend unreachable (a later drain is tried
        then, see :meth:`_drain_later`), so an outage strands none of them.
        """
        did = session.did
        assert did is not None
        include_held = register_id is not None or session.held_pending
        if include_held:
            session.held_pending = False
        self._lanes.drain(
            did,
            lambda frames: self._deliver_stored(session, frames, register_id),
            hold=session.recipient_acks,
            include_held=include_held,
            on_unavailable=lambda: self._drain_later(session, include_held),
        )

    def _drain_later(self, session: Session, include_held: bool) -> None:
        """A drain of ``session`` found the backend unreachable: try again in a while."""
        if include_held:
            session.held_pending = True
        if session.drain_retry is not None or session.closed:
            return
        if session.drain_pauses is None:
            session.drain_pauses = DRAIN_RETRY.delays()
        pause = next(session.drain_pauses)

        def again() -> None:
            session.drain_retry = None
            if session.state is SessionState.REGISTERED:
                self.drain(session, None)

        session.drain_retry = asyncio.get_running_loop().call_later(pause, again)

    def _deliver_stored(
        self, session: Session, frames: list[tuple[str, str]], register_id: str | None
    ) -> bool:
        if session.closed:
            return False
        assert session.did is not None
        if frames and register_id is None:
            frames = session.not_held_yet(frames)
        first = None
        if register_id is not None:
            first = self._frames.registered(
                session.did,
                register_id,
                session.session_id,
                self._heartbeat,
                len(frames),
                recipient_acks=session.recipient_acks,
            )
            logger.info(
                "registered",
                extra={
                    "did": session.did,
                    "session": session.session_id,
                    "peer": session.peer,
                    "queued": len(frames),
                },
            )
        if frames or first is not None:
            session.enqueue_exempt(frames, first)
        session.start_writer()
        return True
