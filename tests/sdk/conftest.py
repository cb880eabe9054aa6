"""Fixtures of the SDK tests: real gateway subprocesses and fast client options."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aiconexus import Backoff

from .gateway_process import GatewayProcess

FAST_BACKOFF = Backoff(initial_delay=0.05, factor=2.0, max_delay=0.5, jitter=0.5)
"""Reconnect quickly in tests."""


def fast_options(**extra: Any) -> dict[str, Any]:
    """GatewayClient options for tests: quick reconnects and short open timeouts."""
    return {"backoff": FAST_BACKOFF, "open_timeout_s": 5.0, **extra}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """A running gateway with the default settings (offline store on), shared by a module."""
    process = GatewayProcess(tmp_path_factory.mktemp("gateway"))
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def gateway_factory(tmp_path: Path) -> Iterator[Any]:
    """Start gateways with extra environment settings; all are stopped afterwards."""
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
