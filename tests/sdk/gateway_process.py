"""A real gateway subprocess on a free loopback port, for the SDK tests.

Killed with SIGKILL and restarted on the same port with the same key file when a test needs
a crash. Replace with a shared helper under tests/support once one exists.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

__all__ = ["GatewayProcess", "free_port"]

_READY_DEADLINE_S = 15.0
_BIN = Path(sys.executable).parent / "aiconexus-gateway"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class GatewayProcess:
    """``aiconexus-gateway`` run as a child process, with its own key file and log."""

    def __init__(self, directory: Path, port: int | None = None, **env: str) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.key_file = directory / "gateway.key"
        self.log_file = directory / "gateway.log"
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.did = ""

    @property
    def url(self) -> str:
        """The WebSocket URL."""
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def http_url(self) -> str:
        """The HTTP base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start and wait until GET /health answers 200."""
        env = {
            **os.environ,
            "GATEWAY_HOST": "127.0.0.1",
            "GATEWAY_PORT": str(self.port),
            "GATEWAY_KEY_FILE": str(self.key_file),
            "LOG_LEVEL": "INFO",
            **self.env,
        }
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                [str(_BIN)], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + _READY_DEADLINE_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gateway exited early:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.http_url}/health", timeout=0.5) as answer:
                    self.did = json.loads(answer.read())["did"]
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"gateway did not become ready:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL the gateway, as a crash would, and reap it."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)

    def stop(self) -> None:
        """Stop the gateway (SIGTERM, then SIGKILL after 10 s)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def log_tail(self, lines: int = 30) -> str:
        """The end of the gateway's log."""
        if not self.log_file.exists():
            return ""
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
