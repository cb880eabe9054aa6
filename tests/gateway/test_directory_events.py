"""``GET /agents/events``: a change event at once, then after each arrival and departure."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from pathlib import Path

import httpx
import pytest
from support.inprocess import InProcessGateway

from aiconexus import Agent, Identity, directory_changes, list_agents
from aiconexus_gateway.observation.directory_events import MAX_LISTENERS, DirectoryChanges

TOKEN = "directory-token-0123456789"
DEADLINE_S = 10.0
"""For failing only: an event comes within milliseconds."""


@pytest.fixture(scope="module")
def tokened(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessGateway]:
    """A gateway whose directory takes a token."""
    env = {"STORAGE_TYPE": "memory", "AGENTS_TOKEN": TOKEN}
    with InProcessGateway(env, Path(tmp_path_factory.mktemp("events"))) as server:
        yield server


async def _next(changes: AsyncIterator[int]) -> int:
    async with asyncio.timeout(DEADLINE_S):
        return await anext(changes)


async def test_an_event_follows_each_arrival_and_departure(tokened: InProcessGateway) -> None:
    """The first event comes at once; registering and leaving each bring one, in order."""
    async with aclosing(directory_changes(tokened.ws_url, token=TOKEN)) as changes:
        first = await _next(changes)
        agent = Agent(Identity.generate(), capabilities=["events-echo"])
        async with agent.connect(tokened.ws_url):
            arrived = await _next(changes)
            assert arrived > first
            listed = await list_agents(tokened.ws_url, "events-echo", token=TOKEN)
            assert [a.did for a in listed] == [agent.did]
        left = await _next(changes)
        assert left > arrived
        assert await list_agents(tokened.ws_url, "events-echo", token=TOKEN) == []


async def test_the_stream_takes_the_directory_token(tokened: InProcessGateway) -> None:
    """Without the /agents token: 401, as for /agents."""
    with pytest.raises(httpx.HTTPStatusError) as caught:
        async with aclosing(directory_changes(tokened.ws_url, token="wrong")) as changes:
            await _next(changes)
    assert caught.value.response.status_code == 401


async def test_changes_are_coalesced_and_the_stream_ends_on_close() -> None:
    """A waiter sees the newest version once; close() ends every wait."""
    changes = DirectoryChanges()
    for _ in range(3):
        changes.changed()
    assert await changes.wait(0, 0.01) and changes.version == 3
    assert not await changes.wait(3, 0.01)
    waiting = asyncio.create_task(changes.wait(3, DEADLINE_S))
    await asyncio.sleep(0)
    changes.close()
    assert await waiting is False and changes.closed


async def test_streams_beyond_the_bound_are_refused(tokened: InProcessGateway) -> None:
    """With MAX_LISTENERS streams open, one more is answered 503 with Retry-After."""
    assert tokened.app is not None
    changes = tokened.app.hub.directory
    changes.listeners += MAX_LISTENERS  # as many streams as allowed (counted, not opened)
    try:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient() as http:
            response = await http.get(f"{tokened.http_url}/agents/events", headers=headers)
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert str(MAX_LISTENERS) in response.json()["detail"]
    finally:
        changes.listeners -= MAX_LISTENERS
