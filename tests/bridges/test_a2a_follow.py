"""The A2A bridge's cards follow the gateway's directory through its change events.

An agent that registers after the bridge started is served at once, one that registers
again with another card is served the new card within the event latency (not after a
cache's age), one that leaves drops out of the directory; a DID nobody registered costs no
read of the directory; without the events, the poll (and an early read asked by a miss,
coalesced) still brings new agents.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

pytest.importorskip("a2a", reason="the A2A bridge tests need the a2a extra")

from support.inprocess import InProcessGateway

from aiconexus import Agent, Identity
from aiconexus_gateway.bridges.a2a.cards import AgentCards
from aiconexus_gateway.bridges.a2a.store import MemoryTaskStore
from aiconexus_gateway.bridges.directory import DirectoryWatcher

from .conftest import http_client, running

DEADLINE_S = 10.0
"""For failing only: with the events a change shows within milliseconds."""


def skills(card: dict[str, object]) -> set[str]:
    """The skill ids of a card (JSON)."""
    listed = card.get("skills")
    assert isinstance(listed, list)
    return {str(skill["id"]) for skill in listed}


def dids(page: dict[str, list[dict[str, object]]]) -> set[object]:
    """The DIDs of a page of ``GET /a2a/agents``."""
    return {agent["did"] for agent in page["agents"]}


@asynccontextmanager
async def following(
    gateway: InProcessGateway, *, events: bool = True
) -> AsyncIterator[tuple[DirectoryWatcher, AgentCards]]:
    """A started watcher of ``gateway`` (polling once a minute) and the cards following it."""
    watcher = DirectoryWatcher(gateway.ws_url, interval_s=60.0, events=events, min_read_s=0.2)
    cards = AgentCards(watcher, gateway.http_url, MemoryTaskStore())
    await watcher.start()
    try:
        async with asyncio.timeout(DEADLINE_S):
            while watcher.reads == 0 or (events and not watcher.streaming):  # noqa: ASYNC110
                await asyncio.sleep(0.01)  # the first read and the stream are on their way
        yield watcher, cards
    finally:
        await watcher.stop()
        await cards.close()


async def test_a_card_follows_its_agent_through_the_embedded_bridge(
    a2a_gateway: InProcessGateway,
) -> None:
    """Registered after the start: served; again with other skills: the new card at once."""
    identity = Identity.generate()
    url = f"{a2a_gateway.http_url}/a2a/{identity.did}/.well-known/agent-card.json"
    async with http_client(None) as http:
        async with running(Agent(identity, capabilities=["first-skill"]), a2a_gateway):
            card = await http.get(url)
            assert card.status_code == 200 and skills(card.json()) == {"first-skill"}
        async with running(Agent(identity, capabilities=["second-skill"]), a2a_gateway):
            async with asyncio.timeout(DEADLINE_S):  # the card of the bridge's last read
                while skills((await http.get(url)).json()) != {"second-skill"}:  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
        listing = f"{a2a_gateway.http_url}/a2a/agents"
        async with asyncio.timeout(DEADLINE_S):  # polling the bridge over HTTP
            while identity.did in dids((await http.get(listing)).json()):  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        left = await http.get(url)  # gone from the directory, its tasks still wait for it
        assert left.status_code == 200 and skills(left.json()) == {"second-skill"}


async def test_arrivals_changes_and_departures_come_with_the_events(
    a2a_gateway: InProcessGateway,
) -> None:
    """Polling once a minute, only the change events can bring these within the deadline."""
    identity = Identity.generate()
    async with following(a2a_gateway) as (watcher, cards):
        async with running(Agent(identity, capabilities=["arrives"]), a2a_gateway):
            served = await cards.agent(identity.did)
            assert served is not None and '"arrives"' in served.card
        async with asyncio.timeout(DEADLINE_S):
            while identity.did in watcher.agents:
                await watcher.wait_for_change(DEADLINE_S)
        async with running(Agent(identity, capabilities=["changes"]), a2a_gateway):
            async with asyncio.timeout(DEADLINE_S):
                while '"changes"' not in ((await cards.agent(identity.did)) or served).card:
                    await watcher.wait_for_change(DEADLINE_S)
        assert watcher.reads < 10  # one per change, none per lookup


async def test_unknown_dids_cost_no_read_of_the_directory(tmp_path: Path) -> None:
    """Lookups of DIDs nobody registered wait for a change, boundedly, and read nothing.

    A gateway of its own: nobody else's arrivals or departures make the watcher read.
    """
    with InProcessGateway({"STORAGE_TYPE": "memory"}, tmp_path) as gateway:
        async with following(gateway) as (watcher, cards):
            reads = watcher.reads
            strangers = [Identity.generate().did for _ in range(100)]
            started = time.monotonic()
            found = await asyncio.gather(*(cards.agent(did) for did in strangers))
            took = time.monotonic() - started
            assert found == [None] * len(strangers)
            assert watcher.reads == reads
            assert took < DEADLINE_S  # at most 64 wait, each up to miss_wait_s; the rest at once
            assert await cards.agent("not-a-did") is None


async def test_without_events_a_miss_asks_for_one_early_read(
    a2a_gateway: InProcessGateway,
) -> None:
    """Poll only, once a minute: a new agent is still found, many lookups sharing few reads."""
    agent = Agent(Identity.generate(), capabilities=["polled"])
    async with following(a2a_gateway, events=False) as (watcher, cards):
        reads = watcher.reads
        async with running(agent, a2a_gateway):
            found = await asyncio.gather(*(cards.agent(agent.did) for _ in range(50)))
        assert all(served is not None and '"polled"' in served.card for served in found)
        assert not watcher.streaming
        assert 1 <= watcher.reads - reads <= 3  # coalesced: at most one per min_read_s
