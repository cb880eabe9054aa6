"""The gateway's agent directory (``GET /agents``, page by page) and its HTTP address."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from aiconexus.protocol import Capability, capability_from_info

__all__ = ["PAGE_SIZE", "AgentInfo", "http_base_url", "list_agents"]

PAGE_SIZE = 1000
"""Agents asked for per ``GET /agents`` request (the gateway's largest page)."""


@dataclass(frozen=True, slots=True)
class AgentInfo:
    """One agent registered at the gateway, as ``GET /agents`` lists it."""

    did: str
    capabilities: tuple[str, ...]
    metadata: dict[str, Any] = field(default_factory=dict)
    connected_at: str | None = None
    last_seen: str | None = None
    declarations: dict[str, Capability] = field(default_factory=dict)
    """The capabilities this agent declared (description, ``args`` schema, examples), by name."""

    def capability(self, name: str) -> Capability:
        """The declaration of capability ``name`` (a bare :class:`Capability` if none)."""
        return self.declarations.get(name) or Capability(name)

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> AgentInfo:
        """Build from one element of the ``agents`` list."""
        return cls(
            did=str(item["did"]),
            capabilities=tuple(str(c) for c in item.get("capabilities", [])),
            metadata=dict(item.get("metadata") or {}),
            connected_at=item.get("connected_at"),
            last_seen=item.get("last_seen"),
            declarations=_declarations(item.get("capability_info")),
        )


def _declarations(info: Any) -> dict[str, Capability]:
    if not isinstance(info, dict):
        return {}
    return {name: capability_from_info(name, entry) for name, entry in info.items() if name}


def http_base_url(gateway_url: str) -> str:
    """The HTTP base of a gateway WebSocket URL: ``ws://h:p/ws`` -> ``http://h:p``.

    ``wss`` maps to ``https``; a trailing ``/ws`` path is removed, any other path is kept.
    """
    parts = urlsplit(gateway_url)
    scheme = {"ws": "http", "wss": "https", "http": "http", "https": "https"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ValueError(f"not a gateway URL: {gateway_url!r} (expected ws://host:port/ws)")
    path = parts.path.rstrip("/")
    if path.endswith("/ws"):
        path = path[: -len("/ws")]
    return urlunsplit((scheme, parts.netloc, path, "", ""))


async def list_agents(
    gateway_url: str,
    capability: str | None = None,
    *,
    timeout: float = 10.0,
    token: str | None = None,
) -> list[AgentInfo]:
    """The agents registered at the gateway, optionally only those offering ``capability``.

    ``gateway_url`` is the WebSocket URL (``ws://127.0.0.1:8000/ws``). The directory is read
    page after page (following ``next_cursor``) in DID order; ``token`` is sent as a Bearer
    token when the gateway protects ``/agents`` (``AGENTS_TOKEN``). Raises
    :class:`httpx.HTTPError` when the gateway cannot be reached or answers with an error.
    """
    headers = {"Authorization": f"Bearer {token}"} if token is not None else None
    params: dict[str, str | int] = {"limit": PAGE_SIZE}
    if capability is not None:
        params["capability"] = capability
    agents: list[AgentInfo] = []
    async with httpx.AsyncClient(timeout=timeout, trust_env=False, headers=headers) as http:
        url = f"{http_base_url(gateway_url)}/agents"
        while True:
            response = await http.get(url, params=params)
            response.raise_for_status()
            body = response.json()
            agents += [AgentInfo.from_json(item) for item in body["agents"]]
            cursor = body.get("next_cursor")
            if not isinstance(cursor, str) or cursor <= str(params.get("cursor", "")):
                return agents  # the last page (or a gateway that does not page)
            params["cursor"] = cursor
