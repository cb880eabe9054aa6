"""Fixtures of the cluster suite: one real redis-server for the whole run."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.redis_server import RedisServer, redis_or_skip

from .cluster import Cluster

_databases = itertools.count(1)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server on a free loopback port, shared by the session."""
    with redis_or_skip(databases=1024) as server:
        yield server


@pytest.fixture
def cluster(redis_server: RedisServer, tmp_path: Path) -> Iterator[Cluster]:
    """An empty cluster on a Redis database of its own; its nodes are stopped afterwards."""
    if not redis_server.running:  # a test that stopped Redis failed before restarting it
        redis_server.start()
    group = Cluster(redis_server, next(_databases), tmp_path)
    yield group
    group.stop()
