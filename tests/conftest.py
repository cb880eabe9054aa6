"""Fixtures shared by every suite: real gateways, once per backend in BACKENDS.

``gateway`` and ``start_gateway`` serve the real gateway from this process (see
support.inprocess: same settings, same app, same uvicorn server, real sockets);
``start_gateway_process`` starts the ``aiconexus-gateway`` console script for what needs a
process (signals, SIGKILL, worker processes, LOG_FILE/LOG_LEVEL, binding errors).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from support.backends import BACKENDS, GatewayEnv, backend_environment
from support.client import RawClient
from support.gateway import GatewayProcess, StartGateway
from support.inprocess import InProcessGateway


def _param(name: str) -> object:
    return pytest.param(name, marks=pytest.mark.redis) if name == "redis" else name


@pytest.fixture(scope="session", params=[_param(name) for name in BACKENDS])
def backend_env(request: pytest.FixtureRequest) -> Iterator[GatewayEnv]:
    """The environment factory of the backend under test (parametrized over BACKENDS)."""
    with backend_environment(request.param) as env:
        yield env


def _settings_env(settings: dict[str, object]) -> dict[str, str]:
    env = {}
    for name, value in settings.items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        env[name.upper()] = str(value)
    return env


@pytest.fixture(autouse=True)
async def _close_clients() -> AsyncIterator[None]:
    """Close the raw clients a test left open (no leaked sockets)."""
    yield
    await RawClient.close_all()


@pytest.fixture(scope="session")
def gateway(
    backend_env: GatewayEnv, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[InProcessGateway]:
    """A gateway with default settings, shared by the session (use fresh identities)."""
    workdir = tmp_path_factory.mktemp("gateway")
    with InProcessGateway(backend_env(), workdir) as server:
        yield server


@pytest.fixture
def start_gateway(backend_env: GatewayEnv, tmp_path: Path) -> Iterator[StartGateway]:
    """Start gateways with settings, e.g. ``start_gateway(agent_timeout=2)``; stopped after.

    They are served by this process (see support.inprocess).
    """
    started: list[InProcessGateway] = []

    def start(workdir: Path | None = None, **settings: object) -> InProcessGateway:
        env = {**backend_env(), **_settings_env(settings)}
        server = InProcessGateway(env, workdir or tmp_path / f"gw{len(started)}")
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def start_gateway_process(backend_env: GatewayEnv, tmp_path: Path) -> Iterator[StartGateway]:
    """As ``start_gateway``, but each gateway is an ``aiconexus-gateway`` subprocess."""
    started: list[GatewayProcess] = []

    def start(workdir: Path | None = None, **settings: object) -> GatewayProcess:
        env = {**backend_env(), **_settings_env(settings)}
        process = GatewayProcess(env, workdir or tmp_path / f"gw{len(started)}")
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()
