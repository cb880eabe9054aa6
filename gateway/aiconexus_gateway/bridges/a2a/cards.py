"""The agents the A2A bridge serves and their cards, as the gateway's directory lists them.

Agent ``D`` is served when ``GET /agents`` lists it, or listed it once (an agent gone
offline still takes tasks, which wait in the gateway's store). Its card is the one it
signed and sent in its REGISTER metadata (served unchanged); an agent that sent none gets a
card the bridge builds from its capabilities, unsigned. An agent whose metadata says
``"encrypt": true`` gets its requests sealed for it (PROTOCOL.md 8.10).

The cards follow the bridges' :class:`~..directory.DirectoryWatcher` (the gateway's change
events, a poll as the fallback): an agent that registers, or registers again with another
card, is served that card within the event latency; one that leaves drops out of the
directory (its last card stays served, and remembered in the task store). A lookup never
reads the directory itself: a DID the bridge does not know waits up to ``miss_wait_s`` for
the directory's next change (an agent that registered a moment ago is on its way), at most
``max_waiting`` lookups at once (beyond, unknown at once); while no events arrive it also
asks the watcher for an early read, which is made at most once per ``min_read_s`` however
many ask.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from aiconexus import AgentCardSpec, AgentInfo, is_valid_did
from aiconexus.client import ENCRYPT_METADATA_KEY
from aiconexus.directory import http_base_url
from aiconexus.protocol import CARD_METADATA_KEY, build_agent_card, skill_of

from ..directory import DirectoryWatcher, listing_key
from .store import TaskStore

__all__ = ["AgentCards", "DirectoryPage", "ServedAgent", "card_of"]

MISS_WAIT_S = 1.0
"""How long a lookup of an unknown DID waits for the directory's next change."""
MAX_WAITING = 64
"""Most lookups of unknown DIDs waiting at once."""


def card_of(agent: AgentInfo, public_url: str) -> str:
    """The card (JSON text) to serve for ``agent`` as the directory lists it.

    The agent's own signed card when it sent one; else a card built here, whose skills say
    what its capabilities declare (description, examples).
    """
    signed = agent.metadata.get(CARD_METADATA_KEY)
    if isinstance(signed, dict):
        return json.dumps(signed, separators=(",", ":"), ensure_ascii=False)
    name, description = agent.metadata.get("name"), agent.metadata.get("description")
    spec = AgentCardSpec(
        name=name if isinstance(name, str) else "",
        description=description if isinstance(description, str) else "",
        capabilities=agent.capabilities,
        skills={name: skill_of(c.to_info()) for name, c in agent.declarations.items()},
    )
    card = build_agent_card(agent.did, spec, public_url)
    return json.dumps(card, separators=(",", ":"), ensure_ascii=False)


def served(agent: AgentInfo, public_url: str) -> ServedAgent:
    """What the bridge serves for ``agent``: its card and whether it asks for encryption."""
    return ServedAgent(card_of(agent, public_url), agent.metadata.get(ENCRYPT_METADATA_KEY) is True)


@dataclass(frozen=True, slots=True)
class ServedAgent:
    """An agent the bridge serves: its card (JSON text) and whether it asks for encryption."""

    card: str
    encrypt: bool


@dataclass(frozen=True, slots=True)
class DirectoryPage:
    """One page of the card directory."""

    agents: list[dict[str, Any]]
    next_cursor: str | None


class AgentCards:
    """The served agents' cards (see the module)."""

    def __init__(
        self,
        watcher: DirectoryWatcher,
        public_url: str,
        store: TaskStore,
        *,
        agents_token: str | None = None,
        miss_wait_s: float = MISS_WAIT_S,
        max_waiting: int = MAX_WAITING,
        timeout_s: float = 10.0,
    ) -> None:
        self.watcher = watcher
        self.base = http_base_url(watcher.gateway_url)
        self.public_url = public_url
        self.store = store
        self.miss_wait_s = miss_wait_s
        self.max_waiting = max_waiting
        headers = {"Authorization": f"Bearer {agents_token}"} if agents_token else None
        self._http = httpx.AsyncClient(timeout=timeout_s, trust_env=False, headers=headers)
        self._cards: dict[str, ServedAgent] = {}
        self._listed: dict[str, tuple[object, ...]] = {}
        self._waiting = 0
        watcher.on_change(self.follow)

    async def close(self) -> None:
        """Close the HTTP client of the directory pages."""
        await self._http.aclose()

    async def follow(self) -> None:
        """Take the watcher's listing: new and changed agents' cards, remembered in the store."""
        listed: dict[str, tuple[object, ...]] = {}
        for did, agent in self.watcher.agents.items():
            key = listed[did] = listing_key(agent)
            if self._listed.get(did) == key or not is_valid_did(did):
                continue
            entry = served(agent, self.public_url)
            if self._cards.get(did) != entry:
                self._cards[did] = entry
                await self.store.remember_card(did, entry.card, entry.encrypt)
        self._listed = listed

    async def agent(self, did: str) -> ServedAgent | None:
        """Agent ``did``'s card and wish for encryption, or None if the bridge never saw it."""
        if not is_valid_did(did):
            return None
        agent = self._cards.get(did)
        if agent is None:
            stored = await self.store.card(did)
            if stored is not None:
                agent = self._cards[did] = ServedAgent(*stored)
        if agent is None and self._waiting < self.max_waiting:
            self._waiting += 1
            try:
                agent = await self._arrival(did)
            finally:
                self._waiting -= 1
        return agent

    async def _arrival(self, did: str) -> ServedAgent | None:
        """``did``'s card if the directory lists it within ``miss_wait_s`` (no read of its own)."""
        deadline = time.monotonic() + self.miss_wait_s
        while (agent := self._cards.get(did)) is None:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if not self.watcher.streaming:
                self.watcher.read_soon()  # coalesced: at most one read per min_read_s
            await self.watcher.wait_for_change(left)
        return agent

    async def page(self, capability: str | None, cursor: str | None, limit: int) -> DirectoryPage:
        """One page of the directory (as ``GET /agents``), each agent with its card and URL."""
        params: dict[str, str | int] = {"limit": limit}
        if capability is not None:
            params["capability"] = capability
        if cursor is not None:
            params["cursor"] = cursor
        response = await self._http.get(f"{self.base}/agents", params=params)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        agents = []
        for item in body.get("agents", []):
            if not isinstance(item, dict) or not is_valid_did(item.get("did")):
                continue
            agent = AgentInfo.from_json(item)
            agents.append(
                {
                    "did": agent.did,
                    "url": f"{self.public_url}/a2a/{agent.did}",
                    "capabilities": list(agent.capabilities),
                    "card": json.loads(card_of(agent, self.public_url)),
                }
            )
        cursor = body.get("next_cursor")
        return DirectoryPage(agents, cursor if isinstance(cursor, str) else None)
