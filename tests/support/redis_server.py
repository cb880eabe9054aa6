"""A real redis-server on a free loopback port, started, stopped and restarted by tests."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import pytest

from .ports import free_port

__all__ = ["RedisServer", "free_port", "redis_available", "redis_or_skip"]

_START_DEADLINE_S = 10.0


def redis_available() -> bool:
    """True when a redis-server binary is on PATH."""
    return shutil.which("redis-server") is not None


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def redis_or_skip(*, databases: int = 16, appendonly: bool = False) -> RedisServer:
    """A new :class:`RedisServer` (start it with ``with``); skips the test without redis-server."""
    if not redis_available():
        pytest.skip("redis-server is not installed")
    return RedisServer(databases=databases, appendonly=appendonly)


class RedisServer:
    """One redis-server process; keeps its port (and data directory) across restarts.

    Without persistence unless ``appendonly``: then every write is in the append-only file,
    fsynced before Redis answers (``appendfsync always``), so a SIGKILL of Redis loses none.
    """

    def __init__(
        self, port: int | None = None, *, databases: int = 16, appendonly: bool = False
    ) -> None:
        self.port = port or free_port()
        self.databases = databases
        self.appendonly = appendonly
        self._dir = Path(tempfile.mkdtemp(prefix="redis-test-"))
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return self.url_of(0)

    def url_of(self, database: int) -> str:
        """The URL of one of the server's numbered databases."""
        return f"redis://127.0.0.1:{self.port}/{database}"

    @property
    def running(self) -> bool:
        """True while the process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the server and wait until it answers PING."""
        if self.running:
            return
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self._process = subprocess.Popen(
            [
                binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "yes" if self.appendonly else "no",
                "--appendfsync", "always",
                "--databases", str(self.databases),
                "--dir", str(self._dir),
                "--logfile", str(self._dir / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + _START_DEADLINE_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited: {self.log_tail()}")
            if _answers_ping(self.port):
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and wait for it to exit."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def kill(self) -> None:
        """SIGKILL the server, as a crash would."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=5)

    def restart(self) -> None:
        """Stop, then start again on the same port (empty unless ``appendonly``)."""
        self.stop()
        self.start()

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the server's log file."""
        log = self._dir / "redis.log"
        if not log.exists():
            return ""
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

    def close(self) -> None:
        """Stop the server and remove its directory."""
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
