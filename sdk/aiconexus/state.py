"""The connection states of a GatewayClient and the callback type that observes them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import StrEnum

__all__ = ["ConnectionState", "StateListener"]


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
