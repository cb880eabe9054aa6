"""Fixtures of the SDK tests: fast client options, and the backends of the shared gateway.

The gateways are the suite's (tests/conftest.py): ``gateway`` (shared, in-process, once per
backend), ``start_memory_gateway`` (in-process, with settings) and
``start_memory_gateway_process`` (subprocesses, for the tests that kill or freeze them). The
SDK tests on ``gateway`` run against the backends in SDK_BACKENDS only: the memory backend
and a real redis-server (the SQLite store behaves as the memory one towards a client and has
suites of its own).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aiconexus import Backoff

FAST_BACKOFF = Backoff(initial_delay=0.05, factor=2.0, max_delay=0.5, jitter=0.5)
"""Reconnect quickly in tests."""

SDK_BACKENDS = ("memory", "redis")
"""Backends the SDK tests on the shared ``gateway`` run against."""


def fast_options(**extra: Any) -> dict[str, Any]:
    """GatewayClient options for tests: quick reconnects and short open timeouts."""
    return {"backoff": FAST_BACKOFF, "open_timeout_s": 5.0, **extra}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the SDK tests parametrized with a backend outside SDK_BACKENDS."""
    here = Path(__file__).parent
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("backend_env") if callspec is not None else None
        outside = backend is not None and backend not in SDK_BACKENDS
        (dropped if outside and item.path.is_relative_to(here) else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
