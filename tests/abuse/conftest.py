"""Fixtures of the abuse suite: a real gateway process per backend, checked after each attack.

Every test here runs an attack (shortened) against a gateway subprocess on the memory and the
Redis backend and asserts the bound. :func:`assert_survived` is the common ending: the
process is alive, answers ``/health``, wrote no traceback, and stays under a memory ceiling.
Attack clients live in ``support.attacks`` (shared with ``bench/abuse.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.attacks import rss_mb
from support.backends import GatewayEnv
from support.gateway import GatewayProcess
from support.starter import GatewayStarter, StartGatewayProcess

__all__ = ["assert_survived"]

RSS_CEILING_MB = 250.0
"""Resident memory a gateway under any shortened attack here must stay below."""


@pytest.fixture
def abuse_gateway(backend_env: GatewayEnv, tmp_path: Path) -> Iterator[StartGatewayProcess]:
    """``abuse_gateway(**settings)`` starts a gateway subprocess of the backend under test."""
    start = GatewayStarter(GatewayProcess, backend_env, tmp_path, log_level="INFO")
    yield start
    start.stop_all()


def assert_survived(gateway: GatewayProcess, *, rss_ceiling_mb: float = RSS_CEILING_MB) -> float:
    """The gateway is alive, healthy, wrote no traceback, and is under the RSS ceiling."""
    process = gateway.process
    assert process is not None and process.poll() is None, gateway.log()[-2000:]
    assert gateway.health().status_code == 200
    log = gateway.log()
    assert "Traceback" not in log, log[-4000:]
    rss = rss_mb(process.pid)
    assert rss < rss_ceiling_mb, f"gateway RSS {rss:.0f} MiB >= {rss_ceiling_mb} MiB"
    return rss
