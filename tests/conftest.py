"""Fixtures shared by every suite: real gateways, once per backend in BACKENDS.

Every gateway a fixture gives is a :class:`support.gateway.Gateway`. ``gateway`` and
``start_gateway`` serve the real gateway from this process (see support.inprocess: same
settings, same app, same uvicorn server, real sockets); ``start_gateway_process`` starts the
``aiconexus-gateway`` console script for what needs a process (signals, SIGKILL, worker
processes, LOG_FILE/LOG_LEVEL, binding errors). ``start_memory_gateway`` and
``start_memory_gateway_process`` do the same on the memory backend only, for tests whose
subject is not the backend.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from support.backends import BACKENDS, GatewayEnv, backend_environment
from support.client import RawClient
from support.gateway import GatewayProcess
from support.inprocess import InProcessGateway
from support.starter import GatewayStarter, StartGateway, StartGatewayProcess


def _param(name: str) -> object:
    return pytest.param(name, marks=pytest.mark.redis) if name == "redis" else name


def _memory() -> dict[str, str]:
    return {"STORAGE_TYPE": "memory"}


@pytest.fixture(scope="session", params=[_param(name) for name in BACKENDS])
def backend_env(request: pytest.FixtureRequest) -> Iterator[GatewayEnv]:
    """The environment factory of the backend under test (parametrized over BACKENDS)."""
    with backend_environment(request.param) as env:
        yield env


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
    start = GatewayStarter(InProcessGateway, backend_env, tmp_path)
    yield start
    start.stop_all()


@pytest.fixture
def start_gateway_process(backend_env: GatewayEnv, tmp_path: Path) -> Iterator[StartGatewayProcess]:
    """As ``start_gateway``, but each gateway is an ``aiconexus-gateway`` subprocess."""
    start = GatewayStarter(GatewayProcess, backend_env, tmp_path)
    yield start
    start.stop_all()


@pytest.fixture
def start_memory_gateway(tmp_path: Path) -> Iterator[StartGateway]:
    """As ``start_gateway``, on the memory backend only (not parametrized)."""
    start = GatewayStarter(InProcessGateway, _memory, tmp_path)
    yield start
    start.stop_all()


@pytest.fixture
def start_memory_gateway_process(tmp_path: Path) -> Iterator[StartGatewayProcess]:
    """As ``start_gateway_process``, on the memory backend only (not parametrized)."""
    start = GatewayStarter(GatewayProcess, _memory, tmp_path)
    yield start
    start.stop_all()
