"""Fixtures of the SDK tests: real gateways and fast client options.

``gateway`` (shared by a module) is served in-process (support.inprocess) once per backend
in SDK_BACKENDS: every SDK test that uses it runs against the memory backend and against a
real redis-server. ``gateway_factory`` starts in-process gateways with given settings (memory
backend); ``gateway_process_factory`` starts subprocesses for the tests that kill or freeze
them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.backends import GatewayEnv, backend_environment
from support.inprocess import InProcessGateway

from aiconexus import Backoff

from .gateway_process import GatewayProcess

FAST_BACKOFF = Backoff(initial_delay=0.05, factor=2.0, max_delay=0.5, jitter=0.5)
"""Reconnect quickly in tests."""


def fast_options(**extra: Any) -> dict[str, Any]:
    """GatewayClient options for tests: quick reconnects and short open timeouts."""
    return {"backoff": FAST_BACKOFF, "open_timeout_s": 5.0, **extra}


SDK_BACKENDS = ["memory", "redis"]
"""Backends the SDK tests on the shared ``gateway`` run against."""


@pytest.fixture(
    scope="session",
    params=[pytest.param(n, marks=pytest.mark.redis) if n == "redis" else n for n in SDK_BACKENDS],
)
def sdk_backend_env(request: pytest.FixtureRequest) -> Iterator[GatewayEnv]:
    """The environment factory of the backend under test (parametrized over SDK_BACKENDS)."""
    with backend_environment(request.param) as env:
        yield env


@pytest.fixture(scope="module")
def gateway(
    sdk_backend_env: GatewayEnv, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[InProcessGateway]:
    """A running gateway with the default settings (offline store on), shared by a module."""
    with InProcessGateway(sdk_backend_env(), tmp_path_factory.mktemp("gateway")) as server:
        yield server


@pytest.fixture
def gateway_factory(tmp_path: Path) -> Iterator[Any]:
    """Start gateways (in-process, memory) with extra environment settings; stopped after."""
    started: list[InProcessGateway] = []

    def start(**env: str) -> InProcessGateway:
        server = InProcessGateway({"STORAGE_TYPE": "memory", **env}, tmp_path / f"gw{len(started)}")
        started.append(server)
        return server.start()

    try:
        yield start
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def gateway_process_factory(tmp_path: Path) -> Iterator[Any]:
    """As ``gateway_factory``, but subprocesses (for tests that kill or freeze them)."""
    started: list[GatewayProcess] = []

    def start(**env: str) -> GatewayProcess:
        directory = tmp_path / f"gw{len(started)}"
        directory.mkdir()
        process = GatewayProcess(directory, **env)
        process.start()
        started.append(process)
        return process

    try:
        yield start
    finally:
        for process in started:
            process.stop()
