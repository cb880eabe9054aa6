"""A real gateway served by this test process: uvicorn, the real app, a real loopback socket.

:class:`InProcessGateway` is a :class:`support.gateway.Gateway`, as the subprocess
:class:`support.gateway.GatewayProcess` is, so a test runs unchanged against either. It
builds the same server the console script builds (``Settings.from_env`` of the same
environment, ``create_app``, ``uvicorn_config``, ``GatewayServer``) and serves it from a
thread of its own with its own event loop: tests read the gateway's state with blocking
HTTP calls (``gateway.did``) from inside their async code, and a session-wide gateway
outlives each test's loop. What needs a process of its own stays a subprocess: signals,
SIGKILL, worker processes, LOG_FILE, LOG_LEVEL and binding errors.

Being in this process, its code is measured by coverage like any other, its start costs no
interpreter start-up and no imports, and ``gateway.app`` reaches the hub (for assertions on
state no route exposes).

``support.in_loop.serve_in_loop`` serves a gateway in the test's own loop instead (async
tests that use no blocking call), the way uvicorn's own tests run servers.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar, Self

from aiconexus_gateway.app import GatewayApp, create_app
from aiconexus_gateway.keys import load_or_create_key
from aiconexus_gateway.observation.logs import _formatter as gateway_formatter
from aiconexus_gateway.server import GatewayServer, uvicorn_config
from aiconexus_gateway.settings import Settings

from .gateway import START_TIMEOUT_S, Gateway, gateway_env
from .in_loop import loopback_socket

__all__ = ["InProcessGateway"]

LOGGERS = ("aiconexus.gateway", "uvicorn.error")
"""Loggers whose records an in-process gateway keeps (those of its own thread only)."""


def _bound(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


class _ThreadLog(logging.Handler):
    """Keeps the formatted records that one thread logs, at or above ``level``."""

    def __init__(self, thread_id: int, level: int, lines: list[str]) -> None:
        super().__init__(level)
        self.thread_id = thread_id
        self.lines = lines
        self.setFormatter(gateway_formatter("text"))

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread == self.thread_id and super().filter(record)

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


class _LoggerLevels:
    """Lowers the gateway's loggers to the lowest level a running gateway asked for."""

    wanted: ClassVar[list[int]] = []
    saved: ClassVar[dict[str, int]] = {}

    @classmethod
    def add(cls, level: int) -> None:
        if not cls.wanted:
            cls.saved = {name: logging.getLogger(name).level for name in LOGGERS}
        cls.wanted.append(level)
        cls._apply()

    @classmethod
    def remove(cls, level: int) -> None:
        cls.wanted.remove(level)
        if cls.wanted:
            cls._apply()
            return
        for name, saved in cls.saved.items():
            logging.getLogger(name).setLevel(saved)

    @classmethod
    def _apply(cls) -> None:
        for name in LOGGERS:
            logging.getLogger(name).setLevel(min(cls.wanted))


class InProcessGateway(Gateway):
    """One gateway served by a thread of this process on a loopback port.

    ``env`` holds gateway settings as environment variables (``STORAGE_TYPE``,
    ``AGENT_TIMEOUT``...), read by ``Settings.from_env`` exactly as the console script reads
    them. The port is chosen once (``port`` if given) and kept across ``stop()``/``start()``,
    as is the key file in ``workdir``.
    """

    def __init__(self, env: Mapping[str, str], workdir: Path, *, port: int | None = None) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self._socket: socket.socket | None = None
        if port is None and "GATEWAY_PORT" not in env:
            self._socket = loopback_socket()
            port = int(self._socket.getsockname()[1])
        self.env = gateway_env(env, workdir, port if port is not None else 0)
        self.lines: list[str] = []
        self._app: GatewayApp | None = None
        self.settings: Settings | None = None
        self._server: GatewayServer | None = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._level = logging.INFO

    @property
    def app(self) -> GatewayApp:
        """The app being served (its hub, for state no route exposes); once started."""
        assert self._app is not None, "not started"
        return self._app

    def start(self, timeout: float = START_TIMEOUT_S) -> Self:
        """Build the app and serve it until :meth:`stop`; returns once it listens.

        Raises what the start-up raised (a bad setting, a policy file that cannot be read).
        """
        try:
            settings = Settings.from_env(self.env)
            identity = load_or_create_key(settings.gateway_key_file)
            self._app = create_app(settings, identity)
        except BaseException:
            if self._socket is not None:
                self._socket.close()
                self._socket = None
            raise
        self.settings = settings
        config = uvicorn_config(settings, self._app)
        server = GatewayServer(config)
        self._server = server
        self._failure = None
        sock = self._socket or _bound(self.port)
        self._socket = None
        self._level = logging.getLevelName(settings.log_level)
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._serve, args=(server, sock, ready), name=f"gateway-{self.port}"
        )
        self._thread.start()
        ready.wait(timeout)  # the log handler is installed
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"in-process gateway did not start: {self._failure!r}")
            time.sleep(0.005)
        return self

    def _serve(self, server: GatewayServer, sock: socket.socket, ready: threading.Event) -> None:
        handler = _ThreadLog(threading.get_ident(), self._level, self.lines)
        for name in LOGGERS:
            logging.getLogger(name).addHandler(handler)
        _LoggerLevels.add(self._level)
        ready.set()
        try:
            asyncio.run(server.serve(sockets=[sock]))
        except BaseException as exc:  # reported by start() / stop()
            self._failure = exc
        finally:
            sock.close()
            _LoggerLevels.remove(self._level)
            for name in LOGGERS:
                logging.getLogger(name).removeHandler(handler)

    def stop(self, timeout: float = 10.0) -> int | None:
        """Shut down as on SIGTERM (drain, close 1001); 0 when it stopped cleanly."""
        thread, server = self._thread, self._server
        if thread is None or server is None:
            return None
        server.should_exit = True
        if self.settings is not None:  # a drain may take DRAIN_TIMEOUT, then the close
            timeout = max(timeout, self.settings.drain_timeout + 5.0)
        thread.join(timeout)
        if thread.is_alive():
            server.force_exit = True
            thread.join(5)
        self._thread = None
        return 1 if self._failure is not None or thread.is_alive() else 0

    @property
    def did(self) -> str:
        """The gateway's DID."""
        return self.app.hub.did

    def log(self) -> str:
        """Every line the gateway logged so far (text format, as on stderr)."""
        return "\n".join(self.lines)
