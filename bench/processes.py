"""Benchmark targets as subprocesses on free loopback ports: the gateway and the bare relay."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType

__all__ = ["Service", "bare_relay", "cpu_seconds", "free_port", "gateway"]

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Service:
    """A subprocess serving ``/ws`` and ``/health`` on ``port``; a context manager."""

    def __init__(self, command: list[str], port: int, env: dict[str, str] | None = None) -> None:
        self.command = command
        self.port = port
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    def cpu_seconds(self) -> float:
        """CPU time (user + system, all threads) of the process and its child processes."""
        assert self.process is not None
        return sum(_cpu_ticks(pid) for pid in _family(self.process.pid)) / os.sysconf("SC_CLK_TCK")

    def rss_kb(self) -> int:
        """Resident set size of the process, kB."""
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS in /proc status")

    @property
    def ws_url(self) -> str:
        """The WebSocket URL."""
        return f"ws://127.0.0.1:{self.port}/ws"

    def __enter__(self) -> Service:
        self.process = subprocess.Popen(self.command, env=self.env, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1)
                return self
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.command[0]} exited early") from None
                time.sleep(0.05)
        raise RuntimeError(f"{self.command} did not start")

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _family(pid: int) -> list[int]:
    """``pid`` and its live child processes (GATEWAY_WORKERS runs one per worker)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    found = [int(child) for child in children.read_text().split()] if children.exists() else []
    return [pid, *found]


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) of process ``pid`` so far; 0 once it ended."""
    return _cpu_ticks(pid) / os.sysconf("SC_CLK_TCK")


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:  # ended meanwhile
        return 0
    return int(fields[11]) + int(fields[12])


def bare_relay() -> Service:
    """The forward-only FastAPI relay."""
    port = free_port()
    return Service([sys.executable, str(HERE / "bare_relay.py"), str(port)], port)


def gateway(*, verify: bool, extra: dict[str, str] | None = None) -> Service:
    """The gateway (memory backend) with VERIFY_SIGNATURES on or off."""
    port = free_port()
    script = shutil.which("aiconexus-gateway", path=str(Path(sys.executable).parent))
    if script is None:
        raise RuntimeError("aiconexus-gateway is not installed next to this Python")
    env = {
        "GATEWAY_PORT": str(port),
        "GATEWAY_KEY_FILE": str(Path(tempfile.mkdtemp(prefix="bench-")) / "gateway.key"),
        "VERIFY_SIGNATURES": "true" if verify else "false",
        "LOG_LEVEL": "WARNING",
        "STORAGE_TYPE": "memory",
        # Every check runs, but no limit binds: the per-agent rate limits are far above the
        # load, and every client comes from 127.0.0.1, so the per-address limits are off
        # (bench/abuse.py measures the limits at work).
        "RATE_LIMIT_FRAMES_PER_S": str(10**9),
        "RATE_LIMIT_BYTES_PER_S": str(10**12),
        "RATE_LIMIT_FRAMES_PER_S_PER_IP": "0",
        "RATE_LIMIT_BYTES_PER_S_PER_IP": "0",
        "MAX_CONNECTIONS_PER_IP": "0",
        "MAX_PREAUTH_PER_IP": "0",
        "MAX_REGISTRATIONS_PER_IP_PER_MINUTE": "0",
        **(extra or {}),
    }
    return Service([script], port, env)
