"""Settings: defaults, every invalid value named, and the console script's refusals (exit 2).

Where each setting's effect is tested:
GATEWAY_HOST/PORT (every gateway fixture; --host/--port below), GATEWAY_SUBPROTOCOL and
CONNECTION_TIMEOUT (test_handshake), GATEWAY_KEY_FILE, AGENT_TIMEOUT, HEARTBEAT_INTERVAL,
MAX_CONNECTIONS, SEND_QUEUE_SIZE, LOG_FILE (test_sessions), MAX_MESSAGE_SIZE
(test_frame_errors), STORE_MAX_PER_AGENT, STORE_MAX_TOTAL, STORE_TTL, CLEANUP_INTERVAL
(test_store), STORE_MAX_PER_SENDER, STORE_MAX_BYTES_*, STORE_SEEN_MAX (test_store_bounds),
SQLITE_PATH and GATEWAY_DATA_DIR (test_sqlite_store), ENABLE_METRICS, NODE_ID, STORAGE_TYPE (test_http), VERIFY_SIGNATURES,
VALIDATE_DIDS, CLOCK_SKEW, LOG_LEVEL, HEARTBEAT_INTERVAL in REGISTERED
(test_setting_effects), GATEWAY_WORKERS (below), REDIS_URL and PRESENCE_TTL (cluster suite),
POLICY_FILE (test_policy), AGENTS_TOKEN and METRICS_TOKEN (test_agents_pages),
INFLIGHT_WINDOW, ACK_TIMEOUT, CLOSE_TIMEOUT, DRAIN_TIMEOUT (test_recipient_acks).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from support.gateway import coverage_env, gateway_script
from support.ports import free_port

from aiconexus_gateway.settings import Settings, SettingsError, default_node_id


def test_defaults() -> None:
    """An empty environment gives the documented defaults."""
    settings = Settings.from_env({})
    assert settings.gateway_host == "127.0.0.1"
    assert settings.gateway_port == 8000
    assert settings.gateway_subprotocol == "ioap.v1"
    assert settings.gateway_key_file == Path.home() / ".aiconexus" / "gateway.key"
    assert (settings.agent_timeout, settings.heartbeat_interval) == (30, 15)
    assert (settings.cleanup_interval, settings.connection_timeout) == (10, 10)
    assert (settings.max_connections, settings.max_message_size) == (10000, 262144)
    assert (settings.send_queue_size, settings.clock_skew) == (1024, 300)
    assert (settings.store_max_per_agent, settings.store_max_total) == (1000, 100000)
    assert settings.store_ttl == 86400
    assert (settings.store_max_per_sender, settings.store_seen_max) == (10000, 100000)
    mib = 1024 * 1024
    assert (settings.store_max_bytes_per_agent, settings.store_max_bytes_per_sender) == (
        32 * mib,
        32 * mib,
    )
    assert (settings.store_max_bytes_total, settings.store_max_bytes_unseen) == (
        256 * mib,
        64 * mib,
    )
    assert settings.gateway_data_dir == Path.home() / ".aiconexus"
    assert settings.sqlite_path == Path.home() / ".aiconexus" / "gateway.db"
    assert settings.verify_signatures and settings.validate_dids and settings.enable_metrics
    assert settings.storage_type == "memory"
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.node_id == default_node_id(8000)  # stable: host name and port
    assert settings.presence_ttl == 15
    assert (settings.inflight_window, settings.ack_timeout) == (1024, 30)
    assert (settings.close_timeout, settings.drain_timeout) == (5, 5)
    assert settings.log_level == "INFO" and settings.log_file is None
    assert settings.policy_file is None
    assert settings.agents_token is None and settings.metrics_token is None
    assert settings.log_format == "text"


def test_values_are_read() -> None:
    """Every variable is read, with its type."""
    settings = Settings.from_env(
        {
            "GATEWAY_PORT": "9000",
            "VERIFY_SIGNATURES": "false",
            "VALIDATE_DIDS": "0",
            "ENABLE_METRICS": "no",
            "STORE_MAX_PER_AGENT": "0",
            "CLOCK_SKEW": "2.5",
            "LOG_LEVEL": "debug",
            "LOG_FILE": "/tmp/x.log",
            "LOG_FORMAT": "JSON",
            "STORAGE_TYPE": "REDIS",
            "NODE_ID": "n1",
            "GATEWAY_KEY_FILE": "~/k.key",
            "INFLIGHT_WINDOW": "0",
            "ACK_TIMEOUT": "1.5",
            "CLOSE_TIMEOUT": "0.5",
            "DRAIN_TIMEOUT": "20",
        }
    )
    assert settings.inflight_window == 0 and settings.ack_timeout == 1.5
    assert settings.close_timeout == 0.5 and settings.drain_timeout == 20
    assert settings.gateway_port == 9000
    assert not (settings.verify_signatures or settings.validate_dids or settings.enable_metrics)
    assert not settings.storing_enabled
    assert settings.clock_skew == 2.5 and settings.replay_window == 5.0
    assert settings.log_level == "DEBUG" and settings.log_file == Path("/tmp/x.log")
    assert settings.log_format == "json"
    assert settings.storage_type == "redis" and settings.node_id == "n1"
    assert settings.gateway_key_file == Path.home() / "k.key"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("GATEWAY_PORT", "eighty"),
        ("GATEWAY_PORT", "70000"),
        ("GATEWAY_WORKERS", "0"),
        ("LOG_LEVEL", "LOUD"),
        ("LOG_FORMAT", "xml"),
        ("AGENT_TIMEOUT", "-1"),
        ("HEARTBEAT_INTERVAL", "0"),
        ("CLEANUP_INTERVAL", "soon"),
        ("CONNECTION_TIMEOUT", "inf"),
        ("MAX_CONNECTIONS", "0"),
        ("MAX_MESSAGE_SIZE", "10"),
        ("SEND_QUEUE_SIZE", "0"),
        ("CLOCK_SKEW", "nan"),
        ("STORE_MAX_PER_AGENT", "-1"),
        ("STORE_MAX_TOTAL", "lots"),
        ("STORE_TTL", "0"),
        ("STORE_MAX_PER_SENDER", "-1"),
        ("STORE_MAX_BYTES_PER_AGENT", "8M"),
        ("STORE_MAX_BYTES_PER_SENDER", "-5"),
        ("STORE_MAX_BYTES_TOTAL", "1.5"),
        ("STORE_MAX_BYTES_UNSEEN", "x"),
        ("STORE_SEEN_MAX", "-1"),
        ("VERIFY_SIGNATURES", "maybe"),
        ("VALIDATE_DIDS", "2"),
        ("ENABLE_METRICS", "yes please"),
        ("STORAGE_TYPE", "postgres"),
        ("REDIS_URL", "http://127.0.0.1"),
        ("PRESENCE_TTL", "0"),
        ("AGENTS_TOKEN", "too-short"),
        ("METRICS_TOKEN", "has a space 0123456789"),
        ("INFLIGHT_WINDOW", "-1"),
        ("ACK_TIMEOUT", "0"),
        ("CLOSE_TIMEOUT", "never"),
        ("DRAIN_TIMEOUT", "-5"),
    ],
)
def test_invalid_value_names_the_variable(variable: str, value: str) -> None:
    """SettingsError carries the variable's name for every kind of bad value."""
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({variable: value})
    assert caught.value.variable == variable
    assert str(caught.value).startswith(variable)


def test_store_settings_are_read() -> None:
    """The store bounds, GATEWAY_DATA_DIR and SQLITE_PATH (by default inside the data dir)."""
    settings = Settings.from_env(
        {
            "STORE_MAX_PER_SENDER": "7",
            "STORE_MAX_BYTES_PER_AGENT": "100",
            "STORE_MAX_BYTES_PER_SENDER": "200",
            "STORE_MAX_BYTES_TOTAL": "0",
            "STORE_MAX_BYTES_UNSEEN": "300",
            "STORE_SEEN_MAX": "5",
            "GATEWAY_DATA_DIR": "/srv/gw",
            "STORAGE_TYPE": "sqlite",
        }
    )
    assert settings.store_max_per_sender == 7
    assert (settings.store_max_bytes_per_agent, settings.store_max_bytes_per_sender) == (100, 200)
    assert (settings.store_max_bytes_total, settings.store_max_bytes_unseen) == (0, 300)
    assert settings.store_seen_max == 5 and settings.storage_type == "sqlite"
    assert settings.sqlite_path == Path("/srv/gw/gateway.db")
    explicit = Settings.from_env({"GATEWAY_DATA_DIR": "/srv/gw", "SQLITE_PATH": "~/x.db"})
    assert explicit.sqlite_path == Path.home() / "x.db"


def test_default_node_ids_are_stable_and_differ_by_port() -> None:
    """Without NODE_ID the node id is the host name and port: the same at every start."""
    first, again = (
        Settings.from_env({"GATEWAY_PORT": "9001"}),
        Settings.from_env({"GATEWAY_PORT": "9001"}),
    )
    assert first.node_id == again.node_id == default_node_id(9001)
    assert first.node_id.endswith("-9001")
    assert Settings.from_env({"GATEWAY_PORT": "9002"}).node_id != first.node_id
    assert Settings.from_env({"GATEWAY_PORT": "9001", "NODE_ID": "edge"}).node_id == "edge"


def test_heartbeat_must_not_exceed_agent_timeout() -> None:
    """HEARTBEAT_INTERVAL > AGENT_TIMEOUT is refused (pings would come too late)."""
    with pytest.raises(SettingsError, match="HEARTBEAT_INTERVAL"):
        Settings.from_env({"AGENT_TIMEOUT": "5", "HEARTBEAT_INTERVAL": "10"})


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [gateway_script(), *args],
        env={"PATH": "/usr/bin:/bin", **coverage_env(), **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_cli_bad_setting_exits_2_with_one_line() -> None:
    """The console script prints one line naming the variable and exits 2."""
    result = _run({"MAX_CONNECTIONS": "many"})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "MAX_CONNECTIONS" in lines[0]


def test_cli_bad_port_option_names_the_variable() -> None:
    """--port is checked like GATEWAY_PORT."""
    result = _run({}, "--port", "x")
    assert result.returncode == 2 and "GATEWAY_PORT" in result.stderr


def test_cli_refuses_workers_with_memory_storage() -> None:
    """--workers 2 with STORAGE_TYPE=memory: exit 2, naming GATEWAY_WORKERS and why."""
    result = _run({"STORAGE_TYPE": "memory"}, "--workers", "2")
    assert result.returncode == 2
    assert "GATEWAY_WORKERS" in result.stderr and "STORAGE_TYPE=redis" in result.stderr


def test_cli_refuses_workers_with_sqlite_storage() -> None:
    """--workers 2 with STORAGE_TYPE=sqlite: exit 2 (one process owns the file)."""
    result = _run({"STORAGE_TYPE": "sqlite"}, "--workers", "2")
    assert result.returncode == 2
    assert "GATEWAY_WORKERS" in result.stderr and "STORAGE_TYPE=redis" in result.stderr


def test_cli_unreadable_key_file_exits_2(tmp_path: Path) -> None:
    """A key file that is not a key: exit 2 naming GATEWAY_KEY_FILE."""
    key = tmp_path / "gateway.key"
    key.write_text("not a key")
    result = _run({"GATEWAY_KEY_FILE": str(key), "GATEWAY_PORT": str(free_port())})
    assert result.returncode == 2 and "GATEWAY_KEY_FILE" in result.stderr


def test_each_default_has_one_home() -> None:
    """The environment unset gives the field defaults; the store's are StoreLimits' defaults."""
    from aiconexus_gateway.backend import store_limits
    from aiconexus_gateway.settings_store import STORE_DEFAULTS

    assert Settings.from_env({}) == Settings()
    assert store_limits(Settings()) == STORE_DEFAULTS
