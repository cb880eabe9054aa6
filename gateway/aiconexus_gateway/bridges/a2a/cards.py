"""The agents the A2A bridge serves and their cards, read from the gateway's directory.

Agent ``D`` is served when ``GET /agents`` lists it, or listed it once (an agent gone
offline still takes tasks, which wait in the gateway's store). Its card is the one it
signed and sent in its REGISTER metadata (served unchanged); an agent that sent none gets a
card the bridge builds from its capabilities, unsigned. An agent whose metadata says
``"encrypt": true`` gets its requests sealed for it (PROTOCOL.md 8.10). Lookups are
answered from a cache refreshed from the directory when a DID is missing or the cache is
older than ``max_age_s``; refreshes are at least ``min_refresh_s`` apart, and callers
asking at the same time share one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from aiconexus import AgentCardSpec, is_valid_did
from aiconexus.client import ENCRYPT_METADATA_KEY
from aiconexus.directory import http_base_url
from aiconexus.protocol import CARD_METADATA_KEY, build_agent_card, skill_of

from .store import TaskStore

__all__ = ["AgentCards", "DirectoryPage", "ServedAgent", "card_of"]

PAGE_LIMIT = 1000
MAX_PAGES = 100
"""At most this many pages of /agents are read per refresh (100,000 agents)."""


def card_of(
    did: str,
    capabilities: list[str],
    metadata: Mapping[str, Any],
    public_url: str,
    capability_info: Mapping[str, Any] | None = None,
) -> str:
    """The card (JSON text) to serve for an agent listed with these capabilities and metadata.

    The agent's own signed card when it sent one; else a card built here, whose skills say
    what ``capability_info`` declares (description, examples).
    """
    signed = metadata.get(CARD_METADATA_KEY)
    if isinstance(signed, dict):
        return json.dumps(signed, separators=(",", ":"), ensure_ascii=False)
    name, description = metadata.get("name"), metadata.get("description")
    spec = AgentCardSpec(
        name=name if isinstance(name, str) else "",
        description=description if isinstance(description, str) else "",
        capabilities=tuple(capabilities),
        skills={name: skill_of(info) for name, info in (capability_info or {}).items()},
    )
    card = build_agent_card(did, spec, public_url)
    return json.dumps(card, separators=(",", ":"), ensure_ascii=False)


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
        gateway_url: str,
        public_url: str,
        store: TaskStore,
        *,
        agents_token: str | None = None,
        max_age_s: float = 30.0,
        min_refresh_s: float = 0.5,
        timeout_s: float = 10.0,
    ) -> None:
        self.base = http_base_url(gateway_url)
        self.public_url = public_url
        self.store = store
        self.max_age_s = max_age_s
        self.min_refresh_s = min_refresh_s
        headers = {"Authorization": f"Bearer {agents_token}"} if agents_token else None
        self._http = httpx.AsyncClient(timeout=timeout_s, trust_env=False, headers=headers)
        self._cards: dict[str, ServedAgent] = {}
        self._refreshed = 0.0
        self._refreshing: asyncio.Lock = asyncio.Lock()

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()

    async def _page(self, params: dict[str, str | int]) -> dict[str, Any]:
        response = await self._http.get(f"{self.base}/agents", params=params)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def _entry(self, item: Mapping[str, Any]) -> tuple[str, ServedAgent] | None:
        did = item.get("did")
        if not is_valid_did(did):
            return None
        assert isinstance(did, str)
        capabilities = [str(c) for c in item.get("capabilities") or []]
        metadata = item.get("metadata") or {}
        if not isinstance(metadata, Mapping):
            metadata = {}
        info = item.get("capability_info")
        declared = info if isinstance(info, Mapping) else None
        card = card_of(did, capabilities, metadata, self.public_url, declared)
        return did, ServedAgent(card, metadata.get(ENCRYPT_METADATA_KEY) is True)

    async def refresh(self) -> None:
        """Read the whole directory again (at most once per ``min_refresh_s``)."""
        asked = time.monotonic()
        async with self._refreshing:
            if self._refreshed >= asked:
                return  # another caller refreshed while this one waited
            wait = self._refreshed + self.min_refresh_s - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            params: dict[str, str | int] = {"limit": PAGE_LIMIT}
            seen: dict[str, ServedAgent] = {}
            for _ in range(MAX_PAGES):
                body = await self._page(params)
                for item in body.get("agents", []):
                    entry = self._entry(item)
                    if entry is not None:
                        seen[entry[0]] = entry[1]
                cursor = body.get("next_cursor")
                if not isinstance(cursor, str):
                    break
                params["cursor"] = cursor
            for did, agent in seen.items():
                if self._cards.get(did) != agent:
                    await self.store.remember_card(did, agent.card, agent.encrypt)
            self._cards.update(seen)
            self._refreshed = time.monotonic()

    async def agent(self, did: str) -> ServedAgent | None:
        """Agent ``did``'s card and wish for encryption, or None if the bridge never saw it."""
        if not is_valid_did(did):
            return None
        stale = time.monotonic() - self._refreshed > self.max_age_s
        if did not in self._cards or stale:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                await self.refresh()  # if it fails, the cache, then the store, answer
        agent = self._cards.get(did)
        if agent is None:
            stored = await self.store.card(did)
            if stored is not None:
                agent = self._cards[did] = ServedAgent(*stored)
        return agent

    async def page(self, capability: str | None, cursor: str | None, limit: int) -> DirectoryPage:
        """One page of the directory (as ``GET /agents``), each agent with its card and URL."""
        params: dict[str, str | int] = {"limit": limit}
        if capability is not None:
            params["capability"] = capability
        if cursor is not None:
            params["cursor"] = cursor
        body = await self._page(params)
        agents = []
        for item in body.get("agents", []):
            entry = self._entry(item)
            if entry is None:
                continue
            did, served = entry
            agents.append(
                {
                    "did": did,
                    "url": f"{self.public_url}/a2a/{did}",
                    "capabilities": item.get("capabilities", []),
                    "card": json.loads(served.card),
                }
            )
        cursor = body.get("next_cursor")
        return DirectoryPage(agents, cursor if isinstance(cursor, str) else None)
