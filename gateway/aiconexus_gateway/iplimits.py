"""Per-IP bounds: open connections, connections not yet authenticated, new registrations.

Counts are kept for three stages of a connection from one address: a TCP connection whose
HTTP request is still being read ("pre-upgrade", counted by :mod:`.http_protocol`), a
WebSocket that has not registered yet ("pre-auth"), and a registered WebSocket. Pre-upgrade
connections and pre-auth WebSockets are each bounded by ``MAX_PREAUTH_PER_IP`` (a TCP
connection over it is dropped at once; a WebSocket is closed 1013 ``CONNECTION_REFUSED``), and
WebSockets by ``MAX_CONNECTIONS_PER_IP``.
REGISTER attempts per address are a token bucket refilled at
``MAX_REGISTRATIONS_PER_IP_PER_MINUTE``. Every limit is off when 0. The defaults let an
organisation run hundreds of agents behind one address.
"""

from __future__ import annotations

import math
import time
from collections import Counter, OrderedDict

from .settings import Settings

__all__ = ["MAX_ADDRESSES", "IpLimits"]

MAX_ADDRESSES = 100_000
"""Most addresses whose registration buckets are remembered (least recently used dropped)."""


class IpLimits:
    """Connection and registration counts per client address."""

    def __init__(
        self,
        *,
        max_connections: int,
        max_preauth: int,
        registrations_per_minute: int,
        max_addresses: int = MAX_ADDRESSES,
    ) -> None:
        self.max_connections = max_connections
        self.max_preauth = max_preauth
        self.registrations_per_minute = registrations_per_minute
        self.max_addresses = max_addresses
        self.tcp_pending = 0
        """TCP connections whose HTTP request is not complete or not upgraded (all addresses)."""
        self._tcp: Counter[str] = Counter()
        self._preauth: Counter[str] = Counter()
        self._open: Counter[str] = Counter()
        self._registrations: OrderedDict[str, tuple[float, float]] = OrderedDict()

    @classmethod
    def from_settings(cls, settings: Settings) -> IpLimits:
        """MAX_CONNECTIONS_PER_IP, MAX_PREAUTH_PER_IP, MAX_REGISTRATIONS_PER_IP_PER_MINUTE."""
        return cls(
            max_connections=settings.max_connections_per_ip,
            max_preauth=settings.max_preauth_per_ip,
            registrations_per_minute=settings.max_registrations_per_ip_per_minute,
        )

    # TCP connections before the WebSocket upgrade ------------------------------------------
    def tcp_opened(self, ip: str) -> str | None:
        """Count a new TCP connection; the reason to refuse it (nothing counted), or None.

        Only connections still sending their request head count here (at most
        ``max_preauth`` per address): the WebSocket stage refuses with a typed close.
        """
        if self.max_preauth and self._tcp[ip] >= self.max_preauth:
            return f"too many connections from this address still sending ({self.max_preauth})"
        self._tcp[ip] += 1
        self.tcp_pending += 1
        return None

    def tcp_closed(self, ip: str) -> None:
        """A counted TCP connection ended or became a WebSocket."""
        self.tcp_pending -= 1
        _decrement(self._tcp, ip)

    # WebSocket connections ----------------------------------------------------------------
    def ws_opened(self, ip: str) -> str | None:
        """Count a new WebSocket (pre-auth); the reason to refuse it (nothing counted), or None."""
        problem = self._over(ip)
        if problem is not None:
            return problem
        self._preauth[ip] += 1
        self._open[ip] += 1
        return None

    def ws_authenticated(self, ip: str) -> None:
        """The WebSocket registered: it no longer counts as pre-auth."""
        _decrement(self._preauth, ip)

    def ws_closed(self, ip: str, *, authenticated: bool) -> None:
        """A counted WebSocket ended."""
        if not authenticated:
            _decrement(self._preauth, ip)
        _decrement(self._open, ip)

    def registration_wait_ms(self, ip: str, *, now: float | None = None) -> int:
        """Take one REGISTER attempt of ``ip``: 0 if allowed, else milliseconds to wait."""
        rate = self.registrations_per_minute
        if not rate:
            return 0
        if now is None:
            now = time.monotonic()
        capacity = float(rate)
        buckets = self._registrations
        tokens, stamp = buckets.pop(ip, (capacity, now))
        tokens = min(capacity, tokens + (now - stamp) * rate / 60.0)
        wait = 0
        if tokens < 1.0:
            wait = max(1, math.ceil((1.0 - tokens) * 60_000.0 / rate))
        else:
            tokens -= 1.0
        buckets[ip] = (tokens, now)
        if len(buckets) > self.max_addresses:
            buckets.popitem(last=False)
        return wait

    def _over(self, ip: str) -> str | None:
        if self.max_preauth and self._preauth[ip] >= self.max_preauth:
            return f"too many unauthenticated connections from this address ({self.max_preauth})"
        if self.max_connections and self._open[ip] >= self.max_connections:
            return f"too many connections from this address ({self.max_connections})"
        return None


def _decrement(counts: Counter[str], key: str) -> None:
    left = counts[key] - 1
    if left > 0:
        counts[key] = left
    else:
        del counts[key]
