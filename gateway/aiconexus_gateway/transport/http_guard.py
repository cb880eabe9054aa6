"""Guards of a plain TCP connection until its request head is complete (:mod:`.http_protocol`).

A :class:`HeadGuard` counts the connection against its peer's address while it sends a
request head (:meth:`.iplimits.IpLimits.head_started`; one over the address's limit is
refused) and in ``tcp_pending`` until it is upgraded or closed, and keeps the deadline of
each head (``HANDSHAKE_TIMEOUT``): armed when the connection is made and after each response.
Closed and refused connections are logged at most once per :data:`LOG_INTERVAL_S`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from aiconexus_gateway.guards.iplimits import IpLimits

__all__ = ["LOG_INTERVAL_S", "HeadGuard", "limits_of", "report"]

logger = logging.getLogger("aiconexus.gateway")

LOG_INTERVAL_S = 10.0
"""At most one log line per this many seconds about closed slow or refused connections."""


class _Tally:
    """Closed connections since the last log line (one line per LOG_INTERVAL_S at most)."""

    timed_out = 0
    refused = 0
    logged_at = 0.0


def report(reason: str) -> None:
    """Count a connection closed for ``reason`` ("timeout" or "refused"); log now and then."""
    if reason == "timeout":
        _Tally.timed_out += 1
    else:
        _Tally.refused += 1
    now = time.monotonic()
    if now - _Tally.logged_at >= LOG_INTERVAL_S:
        logger.warning(
            "closed %d TCP connections without a request head in time and refused %d "
            "over the per-address limits (since the last report)",
            _Tally.timed_out,
            _Tally.refused,
        )
        _Tally.timed_out = _Tally.refused = 0
        _Tally.logged_at = now


def limits_of(app: Any) -> tuple[IpLimits | None, float]:
    """The gateway's per-IP limits and header timeout, found through the ASGI app's wrappers."""
    while app is not None:
        ip_limits = getattr(app, "ip_limits", None)
        if ip_limits is not None:
            return ip_limits, float(app.parts.settings.handshake_timeout)
        app = getattr(app, "app", None)
    return None, 0.0


class HeadGuard:
    """The per-address count and the head deadline of one connection from ``ip``.

    ``on_deadline`` runs when a head did not complete in time (the connection decides
    whether it is waiting for one).
    """

    __slots__ = ("_counted_ip", "_deadline", "_ip", "_limits", "_on_deadline", "_pending",
                 "_timeout")  # fmt: skip

    def __init__(
        self, limits: IpLimits | None, timeout: float, ip: str, on_deadline: Callable[[], None]
    ) -> None:
        self._limits = limits
        self._timeout = timeout
        self._ip = ip
        self._on_deadline = on_deadline
        self._counted_ip: str | None = None
        self._pending = False
        self._deadline: asyncio.TimerHandle | None = None

    def opened(self) -> bool:
        """The connection is made: count it and arm the deadline; False: refuse it."""
        limits = self._limits
        if limits is not None:
            if not self._count_head(limits):
                return False
            limits.tcp_opened()
            self._pending = True
        self._arm()
        return True

    def head_done(self) -> None:
        """A request head is complete: the address's count of heads lets go."""
        if self._counted_ip is not None and self._limits is not None:
            self._limits.head_done(self._counted_ip)
            self._counted_ip = None

    def next_head(self) -> bool:
        """A response is complete: count and time the next head; False: close instead."""
        limits = self._limits
        if limits is not None and self._counted_ip is None and not self._count_head(limits):
            return False
        self._arm()
        return True

    def closed(self) -> None:
        """The connection is upgraded or closed: no longer counted here, no deadline."""
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self.head_done()
        if self._pending and self._limits is not None:
            self._limits.tcp_closed()
            self._pending = False

    def _count_head(self, limits: IpLimits) -> bool:
        problem, per_address = limits.head_started(self._ip)
        if problem is not None:
            report("refused")
            return False
        self._counted_ip = self._ip if per_address else None
        return True

    def _arm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if self._timeout > 0:
            self._deadline = asyncio.get_running_loop().call_later(self._timeout, self._expired)

    def _expired(self) -> None:
        self._deadline = None
        self._on_deadline()
