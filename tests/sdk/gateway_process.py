"""The shared gateway subprocess of tests/support, plus what the SDK tests add: SIGKILL, `url`."""

from __future__ import annotations

import signal
from pathlib import Path

from support.gateway import GatewayProcess as SharedGatewayProcess
from support.ports import free_port

__all__ = ["GatewayProcess", "free_port"]


class GatewayProcess(SharedGatewayProcess):
    """A gateway subprocess that keeps its port and key file across kill() and start()."""

    def __init__(self, directory: Path, **env: str) -> None:
        super().__init__(env, directory)

    @property
    def url(self) -> str:
        """The WebSocket URL."""
        return self.ws_url

    def kill(self) -> None:
        """SIGKILL the gateway, as a crash would, and reap it."""
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
