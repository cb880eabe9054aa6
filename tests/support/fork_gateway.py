"""A gateway process that restarts in a blink: one warm parent forks a fresh gateway per start.

Starting ``aiconexus-gateway`` costs seconds of imports; crash tests that SIGKILL the gateway
dozens of times cannot afford that per kill. The parent (this file run as a script) imports
the gateway once, then on each ``start`` line read from stdin forks a child that runs the
real gateway (``aiconexus_gateway.cli.main``) with the parent's environment, and answers
with the child's pid. The test SIGKILLs the child, a real process, as a crash would.

>>> with ForkedGateway(env, workdir) as gateway:     # the parent; no gateway yet
...     gateway.start()                               # fork + wait for /health
...     gateway.kill()                                # SIGKILL the child
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from .gateway import gateway_env, read_log
from .ports import free_port

__all__ = ["ForkedGateway"]


class ForkedGateway:
    """The warm parent and its current gateway child, on one fixed loopback port."""

    def __init__(self, env: Mapping[str, str], workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log_path = workdir / f"gateway-{self.port}.log"
        self.env = gateway_env({"LOG_FILE": "", **env}, workdir, self.port)
        self._parent: subprocess.Popen[str] | None = None
        self.child: int | None = None

    @property
    def ws_url(self) -> str:
        """``ws://127.0.0.1:<port>/ws``."""
        return f"ws://127.0.0.1:{self.port}/ws"

    def __enter__(self) -> ForkedGateway:
        tests = str(Path(__file__).resolve().parents[1])
        code = f"import sys; sys.path.insert(0, {tests!r}); import support.fork_gateway as f; f._serve()"
        self._parent = subprocess.Popen(
            [sys.executable, "-c", code, str(self.log_path)],
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        return self

    def _ask(self, line: str) -> str:
        parent = self._parent
        assert parent is not None and parent.stdin is not None and parent.stdout is not None
        parent.stdin.write(line + "\n")
        parent.stdin.flush()
        return parent.stdout.readline().strip()

    def start(self, timeout: float = 20.0) -> None:
        """Fork a gateway child and wait until it listens (uvicorn listens after start-up)."""
        self.child = int(self._ask("start"))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1.0).close()
                return
            except OSError:
                time.sleep(0.005)
        raise RuntimeError(f"the forked gateway did not answer:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL the child and reap it."""
        if self.child is not None:
            os.kill(self.child, signal.SIGKILL)
            self._ask(f"reap {self.child}")
            self.child = None

    def stop(self) -> int | None:
        """SIGTERM the child and return its exit status."""
        if self.child is None:
            return None
        os.kill(self.child, signal.SIGTERM)
        status = int(self._ask(f"reap {self.child}"))
        self.child = None
        return status

    def log(self) -> str:
        """Everything the children wrote so far."""
        return read_log(self.log_path)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.child is not None:
            self.kill()
        parent, self._parent = self._parent, None
        if parent is not None:
            assert parent.stdin is not None and parent.stdout is not None
            parent.stdin.close()
            parent.wait(timeout=10)
            parent.stdout.close()


def _serve() -> None:
    """The parent: import the gateway once, then fork a child per ``start`` line."""
    import pydantic.v1  # noqa: F401  (the imports are the point: FastAPI loads it late)

    from aiconexus_gateway import (
        cli,
        server,  # noqa: F401
    )
    from aiconexus_gateway.backend import redis  # noqa: F401

    log_path = sys.argv[1]
    while line := sys.stdin.readline():
        command, _, argument = line.strip().partition(" ")
        if command == "start":
            pid = os.fork()
            if pid == 0:
                log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
                os.dup2(log, 1)
                os.dup2(log, 2)
                os._exit(cli.main([]))
            print(pid, flush=True)
        elif command == "reap":
            _, status = os.waitpid(int(argument), 0)
            print(os.waitstatus_to_exitcode(status), flush=True)
