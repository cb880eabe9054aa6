"""Gateway settings, read from the environment in exactly one place: :meth:`Settings.from_env`.

Every other module takes a :class:`Settings` (or plain arguments), so tests pass their own
values without touching ``os.environ``.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiconexus.protocol import (
    DEFAULT_MAX_MESSAGE_SIZE,
    MAX_CAPABILITIES,
    SEALABLE_TYPES,
    SUBPROTOCOL,
)
from aiconexus_gateway.errors import GatewayError

__all__ = [
    "DEFAULT_DATA_DIR",
    "DEFAULT_KEY_FILE",
    "LIMITS",
    "LOG_FORMATS",
    "MAX_TRUSTED_PROXIES",
    "MIN_TOKEN_LENGTH",
    "STORAGE_TYPES",
    "STORE_BOUNDS",
    "Settings",
    "SettingsError",
    "default_node_id",
]

STORAGE_TYPES = ("memory", "redis", "sqlite")
"""The backends a gateway can use (``STORAGE_TYPE``)."""

DEFAULT_KEY_FILE = Path.home() / ".aiconexus" / "gateway.key"
"""Where the gateway keeps its key unless GATEWAY_KEY_FILE says otherwise."""

DEFAULT_DATA_DIR = Path.home() / ".aiconexus"
"""Where the gateway keeps its data (the SQLite store) unless GATEWAY_DATA_DIR says otherwise."""

MIN_TOKEN_LENGTH = 16
"""Shortest bearer token accepted in AGENTS_TOKEN / METRICS_TOKEN."""

LOG_FORMATS = ("text", "json")
"""The values of ``LOG_FORMAT``: plain text lines, or one JSON object a line."""

_MIB = 1024 * 1024

_LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class SettingsError(GatewayError, ValueError):
    """A setting has an invalid value; ``variable`` names the environment variable."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


LIMITS = (
    "handshake_timeout",
    "max_connections_per_ip",
    "max_preauth_per_ip",
    "max_registrations_per_ip_per_minute",
    "rate_limit_frames_per_s",
    "rate_limit_bytes_per_s",
    "rate_limit_frames_per_s_per_ip",
    "rate_limit_bytes_per_s_per_ip",
    "max_http_per_ip",
    "max_event_streams_per_ip",
    "refusals_before_close",
    "errors_per_s",
    "register_max_capabilities",
    "register_max_capability_length",
    "register_max_metadata_bytes",
    "register_max_metadata_depth",
    "register_max_capability_info_bytes",
    "register_max_capability_info_depth",
)
"""The per-client limits (integers; the variable is the name in upper case; 0 turns it off)."""

STORE_BOUNDS = (
    "store_max_per_sender",
    "store_max_bytes_per_agent",
    "store_max_bytes_per_sender",
    "store_max_bytes_total",
    "store_max_bytes_unseen",
    "store_seen_max",
)
"""The offline store's further bounds (integers read like :data:`LIMITS`; 0 turns one off)."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Every gateway setting, with the documented defaults. Field = env var in lower case."""

    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8000
    gateway_subprotocol: str = SUBPROTOCOL
    gateway_key_file: Path = DEFAULT_KEY_FILE
    gateway_workers: int = 1
    gateway_crypto_threads: int | None = None
    log_level: str = "INFO"
    log_file: Path | None = None
    log_format: str = "text"
    agent_timeout: float = 30.0
    heartbeat_interval: float = 15.0
    cleanup_interval: float = 10.0
    inflight_window: int = 1024
    inflight_window_bytes: int = 8 * _MIB
    ack_timeout: float = 30.0
    close_timeout: float = 5.0
    drain_timeout: float = 5.0
    connection_timeout: float = 10.0
    max_connections: int = 10000
    handshake_timeout: int = 10
    max_connections_per_ip: int = 1000
    max_preauth_per_ip: int = 100
    max_registrations_per_ip_per_minute: int = 600
    rate_limit_frames_per_s: int = 1000
    rate_limit_bytes_per_s: int = 4 * 1024 * 1024
    rate_limit_frames_per_s_per_ip: int = 5000
    rate_limit_bytes_per_s_per_ip: int = 16 * _MIB
    rate_limit_burst_s: float = 2.0
    max_http_per_ip: int = 64
    max_event_streams_per_ip: int = 8
    trusted_proxies: tuple[str, ...] = ()
    refusals_before_close: int = 32
    errors_per_s: int = 100
    register_max_capabilities: int = MAX_CAPABILITIES
    register_max_capability_length: int = 128
    register_max_metadata_bytes: int = 16384
    register_max_metadata_depth: int = 8
    register_max_capability_info_bytes: int = 65536
    register_max_capability_info_depth: int = 20
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    send_queue_size: int = 1024
    send_queue_bytes: int = 8 * _MIB
    send_bytes_total: int = 256 * _MIB
    clock_skew: float = 300.0
    store_max_per_agent: int = 1000
    store_max_total: int = 100000
    store_ttl: float = 86400.0
    store_max_per_sender: int = 10000
    store_max_bytes_per_agent: int = 32 * _MIB
    store_max_bytes_per_sender: int = 32 * _MIB
    store_max_bytes_total: int = 256 * _MIB
    store_max_bytes_unseen: int = 64 * _MIB
    store_seen_max: int = 100000
    gateway_data_dir: Path = DEFAULT_DATA_DIR
    sqlite_path: Path = DEFAULT_DATA_DIR / "gateway.db"
    verify_signatures: bool = True
    validate_dids: bool = True
    require_encryption: frozenset[str] = frozenset()
    policy_file: Path | None = None
    agents_token: str | None = None
    metrics_token: str | None = None
    enable_metrics: bool = True
    enable_api_docs: bool = False
    storage_type: str = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    node_id: str = ""
    presence_ttl: float = 15.0
    public_url: str | None = None
    a2a_enabled: bool = False
    mcp_enabled: bool = False
    bridge_tokens: tuple[tuple[str, str], ...] = ()
    bridge_allow_anonymous: bool = False
    bridge_secret_file: Path | None = None
    a2a_remote_agents: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.node_id:
            object.__setattr__(self, "node_id", default_node_id(self.gateway_port))

    @property
    def storing_enabled(self) -> bool:
        """False when ``STORE_MAX_PER_AGENT=0``: frames for offline agents are refused."""
        return self.store_max_per_agent > 0

    @property
    def loopback_url(self) -> str:
        """The HTTP base URL this gateway is reached at from its own host."""
        host = self.gateway_host
        if host in ("0.0.0.0", "", "::"):
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.gateway_port}"

    @property
    def announced_public_url(self) -> str | None:
        """The base URL sent to agents in the CHALLENGE (PROTOCOL.md 7.1).

        PUBLIC_URL, else the loopback URL when a bridge runs inside the gateway
        (A2A_ENABLED / MCP_ENABLED), else none.
        """
        if self.public_url is not None:
            return self.public_url
        if self.a2a_enabled or self.mcp_enabled:
            return self.loopback_url
        return None

    @property
    def bridge_secret_path(self) -> Path:
        """The bridge secret's file: BRIDGE_SECRET_FILE, else ``bridge.secret`` by the key."""
        if self.bridge_secret_file is not None:
            return self.bridge_secret_file
        return self.gateway_key_file.parent / "bridge.secret"

    @property
    def replay_window(self) -> float:
        """How long a (sender, id) pair is remembered: a frame is fresh for 2 x CLOCK_SKEW."""
        return 2.0 * self.clock_skew

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return Settings(**values)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Read every setting from ``environ``; raise SettingsError naming a bad variable."""
        env = _Env(environ)
        defaults = cls()
        data_dir = Path(env.text("GATEWAY_DATA_DIR", str(DEFAULT_DATA_DIR))).expanduser()
        settings = cls(
            gateway_host=env.text("GATEWAY_HOST", defaults.gateway_host),
            gateway_port=env.integer("GATEWAY_PORT", defaults.gateway_port, low=0, high=65535),
            gateway_subprotocol=env.text("GATEWAY_SUBPROTOCOL", defaults.gateway_subprotocol),
            gateway_key_file=Path(
                env.text("GATEWAY_KEY_FILE", str(defaults.gateway_key_file))
            ).expanduser(),
            gateway_workers=env.integer("GATEWAY_WORKERS", 1, low=1, high=256),
            gateway_crypto_threads=env.integer_or_none("GATEWAY_CRYPTO_THREADS", low=0, high=64),
            log_level=env.choice("LOG_LEVEL", "INFO", _LOG_LEVELS, upper=True),
            log_file=env.path_or_none("LOG_FILE"),
            log_format=env.choice("LOG_FORMAT", "text", LOG_FORMATS),
            agent_timeout=env.number("AGENT_TIMEOUT", defaults.agent_timeout),
            heartbeat_interval=env.number("HEARTBEAT_INTERVAL", defaults.heartbeat_interval),
            cleanup_interval=env.number("CLEANUP_INTERVAL", defaults.cleanup_interval),
            inflight_window=env.integer("INFLIGHT_WINDOW", defaults.inflight_window, low=0),
            inflight_window_bytes=env.integer(
                "INFLIGHT_WINDOW_BYTES", defaults.inflight_window_bytes, low=0
            ),
            ack_timeout=env.number("ACK_TIMEOUT", defaults.ack_timeout),
            close_timeout=env.number("CLOSE_TIMEOUT", defaults.close_timeout),
            drain_timeout=env.number("DRAIN_TIMEOUT", defaults.drain_timeout),
            connection_timeout=env.number("CONNECTION_TIMEOUT", defaults.connection_timeout),
            max_connections=env.integer("MAX_CONNECTIONS", defaults.max_connections, low=1),
            rate_limit_burst_s=env.number("RATE_LIMIT_BURST_S", defaults.rate_limit_burst_s),
            **{name: env.integer(name.upper(), getattr(defaults, name)) for name in LIMITS},
            max_message_size=env.integer("MAX_MESSAGE_SIZE", defaults.max_message_size, low=1024),
            send_queue_size=env.integer("SEND_QUEUE_SIZE", defaults.send_queue_size, low=1),
            send_queue_bytes=env.integer("SEND_QUEUE_BYTES", defaults.send_queue_bytes, low=0),
            send_bytes_total=env.integer("SEND_BYTES_TOTAL", defaults.send_bytes_total, low=0),
            clock_skew=env.number("CLOCK_SKEW", defaults.clock_skew),
            store_max_per_agent=env.integer("STORE_MAX_PER_AGENT", 1000, low=0),
            store_max_total=env.integer("STORE_MAX_TOTAL", 100000, low=0),
            store_ttl=env.number("STORE_TTL", defaults.store_ttl),
            **{name: env.integer(name.upper(), getattr(defaults, name)) for name in STORE_BOUNDS},
            gateway_data_dir=data_dir,
            sqlite_path=Path(env.text("SQLITE_PATH", str(data_dir / "gateway.db"))).expanduser(),
            verify_signatures=env.boolean("VERIFY_SIGNATURES", True),
            validate_dids=env.boolean("VALIDATE_DIDS", True),
            require_encryption=_encryption_types(env.text("REQUIRE_ENCRYPTION", "none")),
            policy_file=env.path_or_none("POLICY_FILE"),
            agents_token=env.token_or_none("AGENTS_TOKEN"),
            metrics_token=env.token_or_none("METRICS_TOKEN"),
            enable_metrics=env.boolean("ENABLE_METRICS", True),
            enable_api_docs=env.boolean("ENABLE_API_DOCS", False),
            trusted_proxies=_trusted_proxies(env.text("TRUSTED_PROXIES", "", allow_empty=True)),
            storage_type=env.choice("STORAGE_TYPE", "memory", STORAGE_TYPES),
            redis_url=env.text("REDIS_URL", defaults.redis_url),
            node_id=env.text("NODE_ID", "", allow_empty=True),
            presence_ttl=env.number("PRESENCE_TTL", defaults.presence_ttl),
            public_url=_public_url(env.text("PUBLIC_URL", "", allow_empty=True)),
            a2a_enabled=env.boolean("A2A_ENABLED", False),
            mcp_enabled=env.boolean("MCP_ENABLED", False),
            bridge_tokens=_bridge_tokens(env.text("BRIDGE_TOKENS", "", allow_empty=True)),
            bridge_allow_anonymous=env.boolean("BRIDGE_ALLOW_ANONYMOUS", False),
            bridge_secret_file=env.path_or_none("BRIDGE_SECRET_FILE"),
            a2a_remote_agents=_url_list(
                "A2A_REMOTE_AGENTS", env.text("A2A_REMOTE_AGENTS", "", allow_empty=True)
            ),
        )
        if settings.heartbeat_interval > settings.agent_timeout:
            raise SettingsError(
                "HEARTBEAT_INTERVAL", "must not exceed AGENT_TIMEOUT (pings would come too late)"
            )
        if settings.a2a_enabled and settings.gateway_workers > 1:
            raise SettingsError(
                "A2A_ENABLED",
                "the embedded A2A bridge runs with GATEWAY_WORKERS=1 only (each worker would "
                "open the same caller sessions); run aiconexus-a2a-bridge beside the workers",
            )
        if settings.redis_url and not settings.redis_url.startswith(
            ("redis://", "rediss://", "unix://")
        ):
            raise SettingsError("REDIS_URL", "must start with redis://, rediss:// or unix://")
        return settings


def default_node_id(port: int) -> str:
    """A node id that stays the same across restarts: ``<host name>-<port>``.

    Two gateways on one host differ by port; NODE_ID overrides it (and each worker of
    GATEWAY_WORKERS=N adds ``-<pid>``).
    """
    host = "".join(c if c.isalnum() or c in "-._" else "-" for c in socket.gethostname())
    return f"{host or 'node'}-{port}"


MAX_BRIDGE_CALLERS = 1000
"""Most callers BRIDGE_TOKENS may name."""
MIN_BRIDGE_TOKEN_LENGTH = MIN_TOKEN_LENGTH
"""Shortest token accepted in BRIDGE_TOKENS."""
MAX_REMOTE_AGENTS = 100
"""Most URLs A2A_REMOTE_AGENTS may list."""
_CALLER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _public_url(raw: str) -> str | None:
    """PUBLIC_URL: the gateway's public ``http(s)://host[:port][/path]`` base (no trailing /)."""
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise SettingsError(
            "PUBLIC_URL", f"must be an http(s)://host[:port][/path] URL, got {raw!r}"
        )
    return raw.rstrip("/")


def _url_list(variable: str, raw: str) -> tuple[str, ...]:
    """A comma list of http(s) base URLs (A2A_REMOTE_AGENTS)."""
    urls = tuple(part.strip().rstrip("/") for part in raw.split(",") if part.strip())
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise SettingsError(variable, f"{url!r} is not an http(s) URL")
    if len(urls) > MAX_REMOTE_AGENTS:
        raise SettingsError(variable, f"lists more than {MAX_REMOTE_AGENTS} URLs")
    return urls


def _bridge_tokens(raw: str) -> tuple[tuple[str, str], ...]:
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


def _encryption_types(raw: str) -> frozenset[str]:
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


def _trusted_proxies(raw: str) -> tuple[str, ...]:
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


class _Env:
    """Typed access to an environment mapping; blank values mean "use the default"."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def _raw(self, name: str) -> str | None:
        value = self._environ.get(name)
        if value is None or not value.strip():
            return None
        return value.strip()

    def text(self, name: str, default: str, *, allow_empty: bool = False) -> str:
        raw = self._raw(name)
        if raw is None:
            if not default and not allow_empty:
                raise SettingsError(name, "must not be empty")
            return default
        return raw

    def path_or_none(self, name: str) -> Path | None:
        raw = self._raw(name)
        return None if raw is None else Path(raw).expanduser()

    def token_or_none(self, name: str) -> str | None:
        raw = self._raw(name)
        if raw is not None and (
            len(raw) < MIN_TOKEN_LENGTH or not all(33 <= ord(c) < 127 for c in raw)
        ):
            raise SettingsError(
                name,
                f"must be at least {MIN_TOKEN_LENGTH} printable ASCII characters without spaces",
            )
        return raw

    def integer(self, name: str, default: int, *, low: int = 0, high: int | None = None) -> int:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(name, f"must be an integer, got {raw!r}") from None
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f">= {low}"
            raise SettingsError(name, f"must be {bound}, got {value}")
        return value

    def integer_or_none(self, name: str, *, low: int, high: int) -> int | None:
        if self._raw(name) is None:
            return None
        return self.integer(name, low, low=low, high=high)

    def number(self, name: str, default: float) -> float:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise SettingsError(name, f"must be a number of seconds, got {raw!r}") from None
        if not value > 0 or value == float("inf"):
            raise SettingsError(name, f"must be a positive number of seconds, got {raw!r}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        raw = self._raw(name)
        if raw is None:
            return default
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise SettingsError(name, f"must be true or false, got {raw!r}")

    def choice(
        self, name: str, default: str, allowed: tuple[str, ...], *, upper: bool = False
    ) -> str:
        raw = self._raw(name)
        if raw is None:
            return default
        value = raw.upper() if upper else raw.lower()
        if value not in allowed:
            raise SettingsError(name, f"must be one of {', '.join(allowed)}, got {raw!r}")
        return value
