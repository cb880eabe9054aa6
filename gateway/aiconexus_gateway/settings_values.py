"""Settings whose values are lists or URLs: parsed and checked, with their bounds.

Used by :meth:`.settings.Settings.from_env` for PUBLIC_URL, A2A_REMOTE_AGENTS,
BRIDGE_TOKENS, REQUIRE_ENCRYPTION and TRUSTED_PROXIES; each raises
:class:`.settings_env.SettingsError` naming its variable.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from aiconexus.protocol import SEALABLE_TYPES
from aiconexus_gateway.settings_env import MIN_TOKEN_LENGTH, SettingsError

__all__ = [
    "MAX_BRIDGE_CALLERS",
    "MAX_REMOTE_AGENTS",
    "MAX_TRUSTED_PROXIES",
    "MIN_BRIDGE_TOKEN_LENGTH",
    "bridge_tokens",
    "encryption_types",
    "public_url",
    "trusted_proxies",
    "url_list",
]

MAX_BRIDGE_CALLERS = 1000
"""Most callers BRIDGE_TOKENS may name."""
MIN_BRIDGE_TOKEN_LENGTH = MIN_TOKEN_LENGTH
"""Shortest token accepted in BRIDGE_TOKENS."""
MAX_REMOTE_AGENTS = 100
"""Most URLs A2A_REMOTE_AGENTS may list."""
_CALLER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def public_url(raw: str) -> str | None:
    """PUBLIC_URL: the gateway's public ``http(s)://host[:port][/path]`` base (no trailing /)."""
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise SettingsError(
            "PUBLIC_URL", f"must be an http(s)://host[:port][/path] URL, got {raw!r}"
        )
    return raw.rstrip("/")


def url_list(variable: str, raw: str) -> tuple[str, ...]:
    """A comma list of http(s) base URLs (A2A_REMOTE_AGENTS)."""
    urls = tuple(part.strip().rstrip("/") for part in raw.split(",") if part.strip())
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise SettingsError(variable, f"{url!r} is not an http(s) URL")
    if len(urls) > MAX_REMOTE_AGENTS:
        raise SettingsError(variable, f"lists more than {MAX_REMOTE_AGENTS} URLs")
    return urls


def bridge_tokens(raw: str) -> tuple[tuple[str, str], ...]:
    """BRIDGE_TOKENS: ``name:token,...`` -> ((name, token), ...), names and tokens unique."""
    tokens: dict[str, str] = {}
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        name, sep, token = (text.strip() for text in item.partition(":"))
        if not sep or not _CALLER_NAME.match(name):
            raise SettingsError(
                "BRIDGE_TOKENS", f"{name!r} is not a caller name ([A-Za-z0-9._-], name:token)"
            )
        if name == "anonymous":
            raise SettingsError("BRIDGE_TOKENS", "the caller name 'anonymous' is reserved")
        if len(token) < MIN_BRIDGE_TOKEN_LENGTH or not all(33 <= ord(c) < 127 for c in token):
            raise SettingsError(
                "BRIDGE_TOKENS",
                f"the token of {name!r} must be at least {MIN_BRIDGE_TOKEN_LENGTH} printable "
                "ASCII characters without spaces",
            )
        if name in tokens or token in tokens.values():
            raise SettingsError("BRIDGE_TOKENS", f"{name!r}: names and tokens must be unique")
        tokens[name] = token
    if len(tokens) > MAX_BRIDGE_CALLERS:
        raise SettingsError("BRIDGE_TOKENS", f"names more than {MAX_BRIDGE_CALLERS} callers")
    return tuple(tokens.items())


def encryption_types(raw: str) -> frozenset[str]:
    """REQUIRE_ENCRYPTION: ``none``, ``all-peer`` or a comma list of encryptable types."""
    sealable = frozenset(t.value for t in SEALABLE_TYPES)
    value = raw.strip()
    if value.lower() == "none":
        return frozenset()
    if value.lower() == "all-peer":
        return sealable
    names = frozenset(name.strip().upper() for name in value.split(",") if name.strip())
    unknown = names - sealable
    if unknown or not names:
        raise SettingsError(
            "REQUIRE_ENCRYPTION",
            f"must be none, all-peer or a comma list of {', '.join(sorted(sealable))}; got {raw!r}",
        )
    return names


MAX_TRUSTED_PROXIES = 64
"""Most entries TRUSTED_PROXIES may list."""


def trusted_proxies(raw: str) -> tuple[str, ...]:
    """TRUSTED_PROXIES: a comma list of addresses or networks (CIDR), normalised; () if blank."""
    entries = [entry.strip() for entry in raw.split(",") if entry.strip()]
    if len(entries) > MAX_TRUSTED_PROXIES:
        raise SettingsError("TRUSTED_PROXIES", f"at most {MAX_TRUSTED_PROXIES} entries")
    proxies = []
    for entry in entries:
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise SettingsError(
                "TRUSTED_PROXIES", f"{entry!r} is not an IP address or network (CIDR)"
            ) from None
        single = network.num_addresses == 1
        proxies.append(str(network.network_address) if single else str(network))
    return tuple(proxies)
