"""Fixtures shared by the gateway tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from support.client import RawClient
from support.gateway import Gateway


@pytest.fixture
async def pair(gateway: Gateway) -> AsyncIterator[tuple[RawClient, RawClient]]:
    """Two registered agents, alice and bob."""
    alice = await RawClient.connect(gateway.ws_url)
    bob = await RawClient.connect(gateway.ws_url)
    yield alice, bob
    await alice.close()
    await bob.close()
