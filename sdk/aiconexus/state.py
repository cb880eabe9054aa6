"""The connection states of a GatewayClient and the callbacks that observe them."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any

__all__ = ["ConnectionState", "StateListener", "StateListeners"]


class ConnectionState(StrEnum):
    """Where a :class:`~aiconexus.GatewayClient` is in its life."""

    CONNECTING = "connecting"
    """Opening the first session."""
    CONNECTED = "connected"
    """Registered; frames flow."""
    RECONNECTING = "reconnecting"
    """The connection dropped; trying again (unacknowledged frames are kept)."""
    CLOSED = "closed"
    """Not open: before :meth:`~aiconexus.GatewayClient.connect` and for good after closing."""


StateListener = Callable[[ConnectionState], Awaitable[None] | None]
"""A callback told about every state change; may be a plain or an ``async`` function."""


class StateListeners:
    """The state listeners of one client: each hears every change, an ``async`` one as a task."""

    def __init__(self, logger: logging.Logger, first: StateListener | None = None) -> None:
        self._listeners: list[StateListener] = [first] if first is not None else []
        self._tasks: set[asyncio.Future[Any]] = set()
        self._logger = logger

    def add(self, listener: StateListener) -> None:
        """Call ``listener`` with each new state from now on."""
        self._listeners.append(listener)

    def notify(self, state: ConnectionState) -> None:
        """Tell every listener about ``state``; one that raises is logged and skipped."""
        for listener in list(self._listeners):
            try:
                result: Any = listener(state)
                if inspect.isawaitable(result):
                    task = asyncio.ensure_future(result)
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
            except Exception:
                self._logger.exception("state listener %r failed", listener)
