"""The ASGI callables the gateway's transport hands to the application, as types."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["ASGIApp", "ASGIReceive", "ASGISend", "Scope"]

Scope = MutableMapping[str, Any]
"""An ASGI connection scope."""

ASGIReceive = Callable[[], Awaitable[MutableMapping[str, Any]]]
"""The ASGI ``receive`` callable of one connection."""

ASGISend = Callable[[MutableMapping[str, Any]], Awaitable[None]]
"""The ASGI ``send`` callable of one connection."""

ASGIApp = Callable[[Scope, ASGIReceive, ASGISend], Awaitable[object]]
"""An ASGI application (it should return None; the HTTP protocol logs any other result)."""
