"""The backends the gateway suite runs against, and what each needs started.

``BACKENDS`` is the one list to extend: every test that uses the ``gateway`` or
``start_gateway`` fixture runs once per entry. :func:`backend_environment` starts what a
backend needs (once per test session) and yields a function that returns the environment
variables for one new gateway process (call it once per gateway, so a backend can isolate
gateways from each other).
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from support.redis_server import redis_or_skip

__all__ = ["BACKENDS", "CRASH_BACKENDS", "GatewayEnv", "backend_environment", "keeps_stored"]

BACKENDS = ["memory", "sqlite", "redis"]
"""Backend names (``STORAGE_TYPE`` values) the gateway behaviour tests are run against."""

CRASH_BACKENDS = ["memory", "sqlite", "redis"]
"""Backends the SIGKILL crash tests run against (see tests/sdk/test_crash.py)."""


def keeps_stored(name: str) -> bool:
    """True when backend ``name`` keeps stored frames across a restart of the gateway."""
    return name != "memory"


GatewayEnv = Callable[[], dict[str, str]]
"""Returns the environment variables of one new gateway process of a backend."""


@contextmanager
def backend_environment(name: str) -> Iterator[GatewayEnv]:
    """Start what backend ``name`` needs; yield the env factory for its gateways."""
    if name == "memory":
        yield lambda: {"STORAGE_TYPE": "memory"}
        return
    if name == "sqlite":
        # Each gateway gets a database file of its own, in a directory removed afterwards.
        with tempfile.TemporaryDirectory(prefix="aiconexus-sqlite-") as directory:
            files = (Path(directory) / f"gateway-{n}.db" for n in itertools.count(1))
            yield lambda: {"STORAGE_TYPE": "sqlite", "SQLITE_PATH": str(next(files))}
        return
    if name == "redis":
        # One server for the session; each gateway gets a database of its own, so gateways
        # of different tests never see each other's agents or stored frames.
        with redis_or_skip(databases=4096) as server:
            databases = itertools.count(1)
            yield lambda: {"STORAGE_TYPE": "redis", "REDIS_URL": server.url_of(next(databases))}
        return
    raise ValueError(f"unknown backend {name!r}")
