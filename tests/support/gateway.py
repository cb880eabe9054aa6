"""The gateway type of the suite: :class:`Gateway`, served in-process or as a subprocess.

Every fixture and helper that gives a test a running gateway gives a :class:`Gateway`; a test
annotated with it runs unchanged against either kind:

- :class:`support.inprocess.InProcessGateway`, the default (fixtures ``gateway`` and
  ``start_gateway``): the real app and uvicorn server, served by a thread of the test process;
- :class:`GatewayProcess`: the ``aiconexus-gateway`` console script, for what needs a process
  of its own (signals, SIGKILL, worker processes, LOG_FILE/LOG_LEVEL, binding errors).

Both take ``(env, workdir, *, port=None)``: ``env`` holds gateway settings as environment
variables, ``workdir`` keeps the key file, and the port is kept across ``stop()``/``start()``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

import httpx

from .ports import free_port

__all__ = [
    "Gateway",
    "GatewayProcess",
    "coverage_env",
    "gateway_env",
    "gateway_script",
    "read_log",
]

START_TIMEOUT_S = 20.0

# Settings of the gateway that must not leak from the calling environment into tests.
_OWN_VARIABLES = (
    "GATEWAY_",
    "LOG_LEVEL",
    "LOG_FILE",
    "LOG_FORMAT",
    "AGENT_TIMEOUT",
    "HEARTBEAT_INTERVAL",
    "CLEANUP_INTERVAL",
    "CONNECTION_TIMEOUT",
    "MAX_CONNECTIONS",
    "MAX_PREAUTH_PER_IP",
    "MAX_REGISTRATIONS_PER_IP",
    "MAX_HTTP_PER_IP",
    "MAX_EVENT_STREAMS_PER_IP",
    "TRUSTED_PROXIES",
    "ENABLE_API_DOCS",
    "HANDSHAKE_TIMEOUT",
    "RATE_LIMIT_",
    "REFUSALS_BEFORE_CLOSE",
    "ERRORS_PER_S",
    "REGISTER_MAX_",
    "MAX_MESSAGE_SIZE",
    "SEND_QUEUE_",
    "SEND_BYTES_TOTAL",
    "CLOCK_SKEW",
    "STORE_",
    "VERIFY_SIGNATURES",
    "VALIDATE_DIDS",
    "ENABLE_METRICS",
    "STORAGE_TYPE",
    "REDIS_URL",
    "SQLITE_PATH",
    "NODE_ID",
    "PRESENCE_TTL",
    "POLICY_FILE",
    "AGENTS_TOKEN",
    "METRICS_TOKEN",
    "INFLIGHT_WINDOW",
    "ACK_TIMEOUT",
    "CLOSE_TIMEOUT",
    "DRAIN_TIMEOUT",
)


class _PortTaken(Exception):
    """The gateway could not bind its port."""


def gateway_script() -> str:
    """Path of the ``aiconexus-gateway`` console script of the running interpreter."""
    found = shutil.which("aiconexus-gateway", path=str(Path(sys.executable).parent))
    if found is None:
        raise RuntimeError("aiconexus-gateway is not installed next to this Python")
    return found


def coverage_env() -> dict[str, str]:
    """The coverage variables of this process (none when not measured).

    A subprocess started with an environment of its own (a clean one, as a user's shell or a
    desktop client would give) gets these too, so that the suite measures its code.
    """
    return {name: value for name, value in os.environ.items() if name.startswith("COVERAGE_")}


def gateway_env(env: Mapping[str, str], workdir: Path, port: int) -> dict[str, str]:
    """The environment of a gateway on ``port``: this one's minus gateway settings, then ``env``.

    The host is loopback, the key file lives in ``workdir`` and output is unbuffered unless
    ``env`` says otherwise.
    """
    base = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_VARIABLES)}
    return {
        **base,
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(port),
        "GATEWAY_KEY_FILE": str(workdir / "gateway.key"),
        "PYTHONUNBUFFERED": "1",
        **env,
    }


def read_log(path: Path) -> str:
    """The text of a gateway's log file so far ("" before it exists)."""
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


class Gateway(ABC):
    """A running gateway on a loopback port: its URLs, DID, HTTP routes, log, start and stop."""

    workdir: Path
    env: dict[str, str]
    """The gateway's settings as environment variables (GATEWAY_PORT included)."""

    @property
    def port(self) -> int:
        """The TCP port the gateway listens on."""
        return int(self.env["GATEWAY_PORT"])

    @property
    def http_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        """``ws://127.0.0.1:<port>/ws``."""
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    @abstractmethod
    def did(self) -> str:
        """The gateway's DID."""

    @abstractmethod
    def start(self, timeout: float = START_TIMEOUT_S) -> Self:
        """Start serving; returns once the gateway answers."""

    @abstractmethod
    def stop(self, timeout: float = 10.0) -> int | None:
        """Shut down as on SIGTERM; the exit status (None when never started)."""

    @abstractmethod
    def log(self) -> str:
        """What the gateway logged so far."""

    def wait_for_log(self, text: str, timeout: float = 10.0) -> str:
        """Wait until ``text`` appears in the log; returns the log (AssertionError if not)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            output = self.log()
            if text in output:
                return output
            time.sleep(0.02)
        raise AssertionError(f"{text!r} not in the gateway output:\n{self.log()}")

    def health(self) -> httpx.Response:
        """GET /health."""
        return httpx.get(f"{self.http_url}/health", timeout=5.0)

    def get(self, path: str, **params: Any) -> httpx.Response:
        """GET ``path`` (``/agents``, ``/metrics``...) with query ``params``."""
        return httpx.get(f"{self.http_url}{path}", params=params, timeout=5.0)

    def agents(self, **params: Any) -> list[dict[str, Any]]:
        """Every agent ``GET /agents`` lists (with query ``params``), page after page."""
        listed: list[dict[str, Any]] = []
        cursor = None
        while True:
            query = {**params, "limit": 1000, **({"cursor": cursor} if cursor else {})}
            response = self.get("/agents", **query)
            response.raise_for_status()
            body = response.json()
            listed += body["agents"]
            cursor = body["next_cursor"]
            if cursor is None:
                return listed

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class GatewayProcess(Gateway):
    """One ``aiconexus-gateway`` subprocess on a loopback port; its output goes to ``log_path``.

    ``env`` holds gateway settings (``STORAGE_TYPE``, ``AGENT_TIMEOUT``...); the port, host
    and key file are filled in unless given. ``args`` are command-line arguments of the
    script; ``port`` (when the arguments choose it) is where it is reached.
    """

    def __init__(
        self,
        env: Mapping[str, str],
        workdir: Path,
        *,
        args: tuple[str, ...] = (),
        port: int | None = None,
    ) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.env = gateway_env(env, workdir, free_port())
        self.args = args
        self._port = port
        self._auto_port = port is None and "GATEWAY_PORT" not in env
        self.log_path = workdir / f"gateway-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> int:
        """The TCP port the gateway listens on (``port`` if given, else GATEWAY_PORT)."""
        return self._port if self._port is not None else int(self.env["GATEWAY_PORT"])

    def start(self, timeout: float = START_TIMEOUT_S) -> Self:
        """Start the process and wait until ``/health`` answers (any status).

        When the port was picked here and another process took it meanwhile, a new free
        port is tried (up to three times).
        """
        for _ in range(3):
            try:
                return self._start_once(timeout)
            except _PortTaken:
                self.env["GATEWAY_PORT"] = str(free_port())
        raise RuntimeError(f"no free port for the gateway:\n{self.log()}")

    def _start_once(self, timeout: float) -> Self:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [gateway_script(), *self.args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                if self._auto_port and "address already in use" in self.log().lower():
                    raise _PortTaken
                raise RuntimeError(f"gateway exited with {self.process.returncode}:\n{self.log()}")
            try:
                httpx.get(f"{self.http_url}/health", timeout=1.0)
                return self
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"gateway did not answer within {timeout}s:\n{self.log()}")

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM and wait (SIGKILL after ``timeout``); returns the exit code."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        return process.returncode

    def kill(self) -> None:
        """SIGKILL the gateway, as a crash would, and reap it (``start()`` starts it again)."""
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)

    def hangup(self) -> None:
        """Send SIGHUP (the gateway reloads its access policy)."""
        assert self.process is not None and self.process.poll() is None, "not running"
        self.process.send_signal(signal.SIGHUP)

    @property
    def did(self) -> str:
        """The gateway's DID, as reported by ``/health``."""
        did: str = self.health().json()["did"]
        return did

    def log(self) -> str:
        """Everything the process wrote so far."""
        return read_log(self.log_path)
