"""Trusted reverse proxies (``TRUSTED_PROXIES``): which peers may name the client.

From a trusted proxy, the client's address is the rightmost ``X-Forwarded-For`` entry that
is not itself a trusted proxy; uvicorn's proxy-headers middleware does that rewrite of the
ASGI scope (see :func:`.server.uvicorn_config`), so every per-address limit past the request
head counts that address. Before the head, a connection is known only by its peer: one from
a trusted proxy is not counted per address then (:class:`.iplimits.IpLimits`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

__all__ = ["TrustedProxies"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """A set of addresses and networks; ``address in proxies`` for an address string."""

    def __init__(self, entries: Iterable[str] = ()) -> None:
        self.entries = tuple(entries)
        self._networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(entry, strict=False) for entry in self.entries
        )
        self._contains = lru_cache(maxsize=4096)(self._lookup)

    def __bool__(self) -> bool:
        return bool(self._networks)

    def __contains__(self, address: object) -> bool:
        if not self._networks or not isinstance(address, str) or len(address) > 64:
            return False
        return self._contains(address)

    def _lookup(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._networks)
