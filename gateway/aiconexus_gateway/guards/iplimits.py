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

A TCP connection counts against its address only until its request head is complete (then
the head names the client, see :mod:`.proxies`); one from a trusted proxy is not counted per
address at all before that. Plain HTTP requests and ``/status/events`` streams have budgets
of their own (``MAX_HTTP_PER_IP``, ``MAX_EVENT_STREAMS_PER_IP``), apart from the WebSocket
ones, so streams held open cannot lock the address's agents out.
"""

from __future__ import annotations

import math
import time
from collections import Counter, OrderedDict

from aiconexus_gateway.settings import Settings

from .trusted_proxies import TrustedProxies

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
        max_http: int = 0,
        max_streams: int = 0,
        trusted: TrustedProxies | None = None,
        max_addresses: int = MAX_ADDRESSES,
    ) -> None:
        self.max_connections = max_connections
        self.max_preauth = max_preauth
        self.registrations_per_minute = registrations_per_minute
        self.max_http = max_http
        self.max_streams = max_streams
        self.trusted = trusted or TrustedProxies()
        self.max_addresses = max_addresses
        self.tcp_pending = 0
        """TCP connections whose HTTP request is not complete or not upgraded (all addresses)."""
        self._tcp: Counter[str] = Counter()
        self._http: Counter[str] = Counter()
        self._streams: Counter[str] = Counter()
        self._preauth: Counter[str] = Counter()
        self._open: Counter[str] = Counter()
        self._registrations: OrderedDict[str, tuple[float, float]] = OrderedDict()

    @classmethod
    def from_settings(cls, settings: Settings) -> IpLimits:
        """The MAX_*_PER_IP* limits and TRUSTED_PROXIES."""
        return cls(
            max_connections=settings.max_connections_per_ip,
            max_preauth=settings.max_preauth_per_ip,
            registrations_per_minute=settings.max_registrations_per_ip_per_minute,
            max_http=settings.max_http_per_ip,
            max_streams=settings.max_event_streams_per_ip,
            trusted=TrustedProxies(settings.trusted_proxies),
        )

    # TCP connections before the request head ----------------------------------------------
    def tcp_opened(self) -> None:
        """A TCP connection was made (``tcp_pending`` until it is upgraded or closed)."""
        self.tcp_pending += 1

    def tcp_closed(self) -> None:
        """A TCP connection counted by :meth:`tcp_opened` ended or became a WebSocket."""
        self.tcp_pending -= 1

    def head_started(self, ip: str) -> tuple[str | None, bool]:
        """A connection from ``ip`` waits for a request head: (why it is refused, counted).

        At most ``max_preauth`` per address (the WebSocket stage refuses with a typed close);
        a trusted proxy's connections are not counted. Nothing is counted when refused.
        """
        if ip in self.trusted:
            return None, False
        if self.max_preauth and self._tcp[ip] >= self.max_preauth:
            why = f"too many connections from this address still sending ({self.max_preauth})"
            return why, False
        self._tcp[ip] += 1
        return None, True

    def head_done(self, ip: str) -> None:
        """A head counted by :meth:`head_started` is complete (or its connection ended)."""
        _decrement(self._tcp, ip)

    # HTTP requests ------------------------------------------------------------------------
    def http_opened(self, ip: str, *, stream: bool) -> str | None:
        """Count an HTTP request (``stream``: an event stream); the reason to refuse it, or None."""
        counts, limit = (self._streams, self.max_streams) if stream else (self._http, self.max_http)
        if limit and counts[ip] >= limit:
            what = "event streams" if stream else "HTTP requests"
            return f"too many {what} from this address at once ({limit})"
        counts[ip] += 1
        return None

    def http_closed(self, ip: str, *, stream: bool) -> None:
        """A counted HTTP request was answered (or its stream ended)."""
        _decrement(self._streams if stream else self._http, ip)

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
