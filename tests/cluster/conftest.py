"""Fixtures of the cluster suite: one real redis-server for the whole run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.redis_server import RedisServer, redis_available


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server on a free loopback port, shared by the session."""
    if not redis_available():
        pytest.skip("redis-server is not installed")
    with RedisServer() as server:
        yield server
