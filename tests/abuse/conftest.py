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

__all__ = ["AbuseGateway", "assert_survived"]

RSS_CEILING_MB = 250.0
"""Resident memory a gateway under any shortened attack here must stay below."""


class AbuseGateway:
    """Starts gateways of the backend under test with given settings; stops them afterwards."""

    def __init__(self, backend_env: GatewayEnv, workdir: Path) -> None:
        self._backend_env = backend_env
        self._workdir = workdir
        self.started: list[GatewayProcess] = []

    def __call__(self, **settings: object) -> GatewayProcess:
        """A started gateway with ``settings`` (``rate_limit_frames_per_s=0`` ...)."""
        env = {**self._backend_env(), "LOG_LEVEL": "INFO"}
        env.update({name.upper(): str(value) for name, value in settings.items()})
        process = GatewayProcess(env, self._workdir / f"gw{len(self.started)}")
        self.started.append(process)
        return process.start()

    def stop(self) -> None:
        """Stop every gateway started."""
        for process in self.started:
            process.stop()


@pytest.fixture
def abuse_gateway(backend_env: GatewayEnv, tmp_path: Path) -> Iterator[AbuseGateway]:
    """``abuse_gateway(**settings)`` starts a gateway of the backend under test."""
    factory = AbuseGateway(backend_env, tmp_path)
    yield factory
    factory.stop()


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
