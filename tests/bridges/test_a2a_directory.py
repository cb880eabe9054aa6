"""The directory of A2A cards: paged, searchable by capability, each card as the agent signed it."""

from __future__ import annotations

import pytest

pytest.importorskip("a2a", reason="the A2A bridge tests need the a2a extra")

from support.inprocess import InProcessGateway

from aiconexus import Agent, Capability, Identity
from aiconexus.protocol import verify_agent_card

from .conftest import StartA2AGateway, http_client, running


async def test_directory_pages_and_searches_cards(a2a_gateway: InProcessGateway) -> None:
    """``/a2a/agents`` lists agents with their URL and signed card, by capability, in pages."""
    agents = [
        Agent(Identity.generate(), capabilities=["translate", "dir-test"]),
        Agent(Identity.generate(), capabilities=["dir-test"]),
    ]
    async with (
        running(agents[0], a2a_gateway),
        running(agents[1], a2a_gateway),
        http_client(None) as http,
    ):
        url = f"{a2a_gateway.http_url}/a2a/agents"
        page = (await http.get(url, params={"capability": "dir-test", "limit": 1})).json()
        assert len(page["agents"]) == 1 and page["next_cursor"]
        rest = (
            await http.get(
                url,
                params={"capability": "dir-test", "limit": 1, "cursor": page["next_cursor"]},
            )
        ).json()
        listed = {entry["did"]: entry for entry in page["agents"] + rest["agents"]}
        assert set(listed) == {agent.did for agent in agents}
        for did, entry in listed.items():
            assert entry["url"] == f"{a2a_gateway.http_url}/a2a/{did}"
            verify_agent_card(entry["card"], did)
        only = (await http.get(url, params={"capability": "translate"})).json()
        assert [entry["did"] for entry in only["agents"]] == [agents[0].did]
        assert (await http.get(url, params={"limit": 0})).status_code == 422


async def test_a_protected_directory_stays_protected(start_a2a_gateway: StartA2AGateway) -> None:
    """With AGENTS_TOKEN the card directory needs it too; the bridge itself still reads /agents."""
    token = "directory-token-0123456789"
    gateway = start_a2a_gateway(AGENTS_TOKEN=token)
    agent = Agent(Identity.generate(), capabilities=["guarded"])
    async with running(agent, gateway), http_client(None) as http:
        url = f"{gateway.http_url}/a2a/agents"
        refused = await http.get(url)
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        allowed = await http.get(url, headers={"Authorization": f"Bearer {token}"})
        assert [entry["did"] for entry in allowed.json()["agents"]] == [agent.did]
        card = await http.get(f"{gateway.http_url}/a2a/{agent.did}/.well-known/agent-card.json")
        assert card.status_code == 200


async def test_declared_capabilities_become_the_cards_skills(a2a_gateway: InProcessGateway) -> None:
    """A capability's description and example args are its skill's, in the card it signs."""
    declared = Capability(
        "translate",
        description="Translates text between languages.",
        args_schema={"type": "object", "properties": {"text": {"type": "string"}}},
        examples=({"text": "bonjour"},),
    )
    agent = Agent(Identity.generate(), capabilities=[declared, "plain"])
    async with running(agent, a2a_gateway), http_client(None) as http:
        url = f"{a2a_gateway.http_url}/a2a/{agent.did}/.well-known/agent-card.json"
        card = (await http.get(url)).json()
    verify_agent_card(card, agent.did)
    skills = {skill["id"]: skill for skill in card["skills"]}
    assert skills["translate"]["description"] == "Translates text between languages."
    assert skills["translate"]["examples"] == ['{"text":"bonjour"}']
    assert skills["plain"]["description"] == "The capability 'plain'."
