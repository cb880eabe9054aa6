"""uvicorn's httptools HTTP protocol with a deadline for the request headers and per-IP counts.

uvicorn bounds an idle keep-alive connection but not one that sends its request headers one
byte at a time, nor one that sends nothing at all: such connections would stay open for ever,
invisible to ``MAX_CONNECTIONS`` and to ``/health``. This protocol class (chosen in
:mod:`.server`) arms a timer when the TCP connection is made and again after each response:
if no complete request head arrived by ``HANDSHAKE_TIMEOUT`` seconds, the connection is
closed. Once the request is a WebSocket upgrade, the connection is handed to the WebSocket
protocol and the gateway's own REGISTER deadline (``CONNECTION_TIMEOUT``) takes over.

A timer in ``connection_made`` of the HTTP protocol was chosen over a wrapper transport or a
reader task: it costs one ``call_later`` per connection, needs no change to uvicorn, and sees
the exact moments that matter (connection made, request head complete, upgrade, close).

Each connection is also counted per client address (:class:`.iplimits.IpLimits`) from the
moment it is made until its request head is complete (a new one over the address's limit is
closed at once), and in ``tcp_pending`` until it is upgraded or closed. Once the head is
complete, the request counts against the HTTP budgets of the address it names (see
:mod:`.http_budget`), the WebSocket against the WebSocket ones; a kept-alive connection waiting for
its next head counts per address again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from aiconexus_gateway.guards.iplimits import IpLimits

__all__ = ["GuardedHttpProtocol", "limits_of"]

logger = logging.getLogger("aiconexus.gateway")

LOG_INTERVAL_S = 10.0
"""At most one log line per this many seconds about closed slow or refused connections."""


class _Tally:
    """Closed connections since the last log line (one line per LOG_INTERVAL_S at most)."""

    timed_out = 0
    refused = 0
    logged_at = 0.0

    @classmethod
    def report(cls, reason: str) -> None:
        if reason == "timeout":
            cls.timed_out += 1
        else:
            cls.refused += 1
        now = time.monotonic()
        if now - cls.logged_at >= LOG_INTERVAL_S:
            logger.warning(
                "closed %d TCP connections without a request head in time and refused %d "
                "over the per-address limits (since the last report)",
                cls.timed_out,
                cls.refused,
            )
            cls.timed_out = cls.refused = 0
            cls.logged_at = now


def limits_of(app: Any) -> tuple[IpLimits | None, float]:
    """The gateway's per-IP limits and header timeout, found through the ASGI app's wrappers."""
    while app is not None:
        hub = getattr(app, "hub", None)
        if hub is not None:
            return hub.ip_limits, float(hub.settings.handshake_timeout)
        app = getattr(app, "app", None)
    return None, 0.0


class GuardedHttpProtocol(HttpToolsProtocol):
    """HttpToolsProtocol + request-head deadline + per-IP connection counts."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """As uvicorn; then count the connection (or refuse it) and arm the deadline."""
        super().connection_made(transport)
        self._counted_ip: str | None = None
        self._pending = False
        self._deadline: asyncio.TimerHandle | None = None
        limits, self._header_timeout = limits_of(self.config.loaded_app)
        self._limits = limits
        self._ip = self.client[0] if self.client else "unknown"
        if limits is not None:
            if not self._count_head(limits):
                transport.abort()
                return
            limits.tcp_opened()
            self._pending = True
        self._arm()

    def _count_head(self, limits: IpLimits) -> bool:
        """Count this connection per address while it sends a head; False: over the limit."""
        problem, per_address = limits.head_started(self._ip)
        if problem is not None:
            _Tally.report("refused")
            return False
        self._counted_ip = self._ip if per_address else None
        return True

    def _head_done(self) -> None:
        if self._counted_ip is not None and self._limits is not None:
            self._limits.head_done(self._counted_ip)
            self._counted_ip = None

    def _arm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if self._header_timeout > 0:
            self._deadline = self.loop.call_later(self._header_timeout, self._expired)

    def _expired(self) -> None:
        self._deadline = None
        cycle = self.cycle
        if (cycle is None or cycle.response_complete) and not self.transport.is_closing():
            _Tally.report("timeout")
            self.transport.abort()

    def _uncount(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._head_done()
        if self._pending and self._limits is not None:
            self._limits.tcp_closed()
            self._pending = False

    def on_headers_complete(self) -> None:
        """As uvicorn; the head names the client: the per-address head count lets go."""
        self._head_done()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        """As uvicorn; the next request head on a kept-alive connection is counted and timed.

        The connection is closed instead when its address is at its limit of connections
        still sending a head.
        """
        super().on_response_complete()
        if self.transport.is_closing():
            return
        limits = self._limits
        if limits is not None and self._counted_ip is None and not self._count_head(limits):
            self.transport.close()
            return
        self._arm()

    def handle_websocket_upgrade(self) -> None:
        """The connection becomes a WebSocket: no longer counted here."""
        self._uncount()
        super().handle_websocket_upgrade()

    def connection_lost(self, exc: Exception | None) -> None:
        """As uvicorn, and stop counting the connection."""
        self._uncount()
        super().connection_lost(exc)
