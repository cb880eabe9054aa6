"""Gateway settings, read from the environment in exactly one place: :meth:`Settings.from_env`.

Every other module takes a :class:`Settings` (or plain arguments), so tests pass their own
values without touching ``os.environ``.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from aiconexus.protocol import DEFAULT_MAX_MESSAGE_SIZE, SUBPROTOCOL

__all__ = ["DEFAULT_KEY_FILE", "STORAGE_TYPES", "Settings", "SettingsError"]

STORAGE_TYPES = ("memory", "redis")
"""The backends a gateway can use (``STORAGE_TYPE``)."""

DEFAULT_KEY_FILE = Path.home() / ".aiconexus" / "gateway.key"
"""Where the gateway keeps its key unless GATEWAY_KEY_FILE says otherwise."""

_LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class SettingsError(ValueError):
    """A setting has an invalid value; ``variable`` names the environment variable."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


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
    agent_timeout: float = 30.0
    heartbeat_interval: float = 15.0
    cleanup_interval: float = 10.0
    inflight_window: int = 1024
    ack_timeout: float = 30.0
    close_timeout: float = 5.0
    drain_timeout: float = 5.0
    connection_timeout: float = 10.0
    max_connections: int = 10000
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    send_queue_size: int = 1024
    clock_skew: float = 300.0
    store_max_per_agent: int = 1000
    store_max_total: int = 100000
    store_ttl: float = 86400.0
    verify_signatures: bool = True
    validate_dids: bool = True
    enable_metrics: bool = True
    storage_type: str = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    node_id: str = ""
    presence_ttl: float = 15.0

    def __post_init__(self) -> None:
        if not self.node_id:
            object.__setattr__(self, "node_id", "node-" + secrets.token_hex(4))

    @property
    def storing_enabled(self) -> bool:
        """False when ``STORE_MAX_PER_AGENT=0``: frames for offline agents are refused."""
        return self.store_max_per_agent > 0

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
            agent_timeout=env.number("AGENT_TIMEOUT", defaults.agent_timeout),
            heartbeat_interval=env.number("HEARTBEAT_INTERVAL", defaults.heartbeat_interval),
            cleanup_interval=env.number("CLEANUP_INTERVAL", defaults.cleanup_interval),
            inflight_window=env.integer("INFLIGHT_WINDOW", defaults.inflight_window, low=0),
            ack_timeout=env.number("ACK_TIMEOUT", defaults.ack_timeout),
            close_timeout=env.number("CLOSE_TIMEOUT", defaults.close_timeout),
            drain_timeout=env.number("DRAIN_TIMEOUT", defaults.drain_timeout),
            connection_timeout=env.number("CONNECTION_TIMEOUT", defaults.connection_timeout),
            max_connections=env.integer("MAX_CONNECTIONS", defaults.max_connections, low=1),
            max_message_size=env.integer("MAX_MESSAGE_SIZE", defaults.max_message_size, low=1024),
            send_queue_size=env.integer("SEND_QUEUE_SIZE", defaults.send_queue_size, low=1),
            clock_skew=env.number("CLOCK_SKEW", defaults.clock_skew),
            store_max_per_agent=env.integer("STORE_MAX_PER_AGENT", 1000, low=0),
            store_max_total=env.integer("STORE_MAX_TOTAL", 100000, low=0),
            store_ttl=env.number("STORE_TTL", defaults.store_ttl),
            verify_signatures=env.boolean("VERIFY_SIGNATURES", True),
            validate_dids=env.boolean("VALIDATE_DIDS", True),
            enable_metrics=env.boolean("ENABLE_METRICS", True),
            storage_type=env.choice("STORAGE_TYPE", "memory", STORAGE_TYPES),
            redis_url=env.text("REDIS_URL", defaults.redis_url),
            node_id=env.text("NODE_ID", "", allow_empty=True),
            presence_ttl=env.number("PRESENCE_TTL", defaults.presence_ttl),
        )
        if settings.heartbeat_interval > settings.agent_timeout:
            raise SettingsError(
                "HEARTBEAT_INTERVAL", "must not exceed AGENT_TIMEOUT (pings would come too late)"
            )
        if settings.redis_url and not settings.redis_url.startswith(
            ("redis://", "rediss://", "unix://")
        ):
            raise SettingsError("REDIS_URL", "must start with redis://, rediss:// or unix://")
        return settings


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
