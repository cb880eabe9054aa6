"""Gateway settings, read from the environment in exactly one place: :meth:`Settings.from_env`.

Every other module takes a :class:`Settings` (or plain arguments), so tests pass their own
values without touching ``os.environ``. Each default is written once, as the default of its
field here, or in the module of its concern: the offline store's bounds in
:mod:`.settings_store`; the typed reading of a variable is :mod:`.settings_env`'s, the
parsing of list and URL values :mod:`.settings_values`'.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from aiconexus.protocol import DEFAULT_MAX_MESSAGE_SIZE, MAX_CAPABILITIES, SUBPROTOCOL
from aiconexus_gateway import settings_values
from aiconexus_gateway.settings_env import MIN_TOKEN_LENGTH, EnvReader, SettingsError
from aiconexus_gateway.settings_store import STORE_BOUNDS, STORE_DEFAULTS
from aiconexus_gateway.settings_values import MAX_TRUSTED_PROXIES

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

LOG_FORMATS = ("text", "json")
"""The values of ``LOG_FORMAT``: plain text lines, or one JSON object a line."""

_MIB = 1024 * 1024

_LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")


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
    store_max_per_agent: int = STORE_DEFAULTS.per_agent
    store_max_total: int = STORE_DEFAULTS.total
    store_ttl: float = STORE_DEFAULTS.ttl
    store_max_per_sender: int = STORE_DEFAULTS.per_sender
    store_max_bytes_per_agent: int = STORE_DEFAULTS.bytes_per_agent
    store_max_bytes_per_sender: int = STORE_DEFAULTS.bytes_per_sender
    store_max_bytes_total: int = STORE_DEFAULTS.bytes_total
    store_max_bytes_unseen: int = STORE_DEFAULTS.bytes_unseen
    store_seen_max: int = STORE_DEFAULTS.seen_max
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
        env = EnvReader(environ)
        defaults = cls()
        data_dir = Path(env.text("GATEWAY_DATA_DIR", str(defaults.gateway_data_dir))).expanduser()
        settings = cls(
            gateway_host=env.text("GATEWAY_HOST", defaults.gateway_host),
            gateway_port=env.integer("GATEWAY_PORT", defaults.gateway_port, low=0, high=65535),
            gateway_subprotocol=env.text("GATEWAY_SUBPROTOCOL", defaults.gateway_subprotocol),
            gateway_key_file=Path(
                env.text("GATEWAY_KEY_FILE", str(defaults.gateway_key_file))
            ).expanduser(),
            gateway_workers=env.integer(
                "GATEWAY_WORKERS", defaults.gateway_workers, low=1, high=256
            ),
            gateway_crypto_threads=env.integer_or_none("GATEWAY_CRYPTO_THREADS", low=0, high=64),
            log_level=env.choice("LOG_LEVEL", defaults.log_level, _LOG_LEVELS, upper=True),
            log_file=env.path_or_none("LOG_FILE"),
            log_format=env.choice("LOG_FORMAT", defaults.log_format, LOG_FORMATS),
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
            store_max_per_agent=env.integer(
                "STORE_MAX_PER_AGENT", defaults.store_max_per_agent, low=0
            ),
            store_max_total=env.integer("STORE_MAX_TOTAL", defaults.store_max_total, low=0),
            store_ttl=env.number("STORE_TTL", defaults.store_ttl),
            **{name: env.integer(name.upper(), getattr(defaults, name)) for name in STORE_BOUNDS},
            gateway_data_dir=data_dir,
            sqlite_path=Path(env.text("SQLITE_PATH", str(data_dir / "gateway.db"))).expanduser(),
            verify_signatures=env.boolean("VERIFY_SIGNATURES", defaults.verify_signatures),
            validate_dids=env.boolean("VALIDATE_DIDS", defaults.validate_dids),
            require_encryption=settings_values.encryption_types(
                env.text("REQUIRE_ENCRYPTION", "none")
            ),
            policy_file=env.path_or_none("POLICY_FILE"),
            agents_token=env.token_or_none("AGENTS_TOKEN"),
            metrics_token=env.token_or_none("METRICS_TOKEN"),
            enable_metrics=env.boolean("ENABLE_METRICS", defaults.enable_metrics),
            enable_api_docs=env.boolean("ENABLE_API_DOCS", defaults.enable_api_docs),
            trusted_proxies=settings_values.trusted_proxies(
                env.text("TRUSTED_PROXIES", "", allow_empty=True)
            ),
            storage_type=env.choice("STORAGE_TYPE", defaults.storage_type, STORAGE_TYPES),
            redis_url=env.text("REDIS_URL", defaults.redis_url),
            node_id=env.text("NODE_ID", "", allow_empty=True),
            presence_ttl=env.number("PRESENCE_TTL", defaults.presence_ttl),
            public_url=settings_values.public_url(env.text("PUBLIC_URL", "", allow_empty=True)),
            a2a_enabled=env.boolean("A2A_ENABLED", defaults.a2a_enabled),
            mcp_enabled=env.boolean("MCP_ENABLED", defaults.mcp_enabled),
            bridge_tokens=settings_values.bridge_tokens(
                env.text("BRIDGE_TOKENS", "", allow_empty=True)
            ),
            bridge_allow_anonymous=env.boolean(
                "BRIDGE_ALLOW_ANONYMOUS", defaults.bridge_allow_anonymous
            ),
            bridge_secret_file=env.path_or_none("BRIDGE_SECRET_FILE"),
            a2a_remote_agents=settings_values.url_list(
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
