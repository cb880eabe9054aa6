"""The tool catalog: one MCP tool per capability that the directory's agents offer.

Built from ``GET /agents`` (through :func:`aiconexus.list_agents`), without I/O of its own.
A tool's input schema is the capability's declared ``args_schema`` (PROTOCOL.md 6.1); with
none, any object. When several agents offer one capability, the declaration of the first
agent in DID order that declares one is the tool's; every agent offering the capability can
serve its calls (:meth:`ToolEntry.pick` chooses among them).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiconexus import AgentInfo, Capability

from .names import tool_name

__all__ = ["ANY_OBJECT", "Catalog", "ToolEntry"]

ANY_OBJECT: Mapping[str, Any] = {"type": "object", "additionalProperties": True}
"""The input schema of a capability declared without ``args_schema``: any object."""


@dataclass(slots=True)
class ToolEntry:
    """One tool: the capability it calls, its declaration and the agents offering it."""

    name: str
    capability: Capability
    dids: tuple[str, ...]
    """The DIDs of the agents offering the capability, in DID order."""
    _turn: itertools.count[int] = field(default_factory=itertools.count, repr=False)

    @property
    def input_schema(self) -> dict[str, Any]:
        """The tool's input schema: the declared ``args_schema``, or any object."""
        schema = dict(self.capability.args_schema or ANY_OBJECT)
        schema.setdefault("type", "object")
        if self.capability.examples and "examples" not in schema:
            schema["examples"] = [dict(example) for example in self.capability.examples]
        return schema

    @property
    def description(self) -> str:
        """The declared description, or a sentence naming the capability."""
        if self.capability.description:
            return self.capability.description
        return f"Calls the capability {self.capability.name!r} of an agent on the gateway."

    def order(self) -> list[str]:
        """The DIDs to try for one call: round robin, each call starting one further."""
        start = next(self._turn) % len(self.dids)
        return [*self.dids[start:], *self.dids[:start]]


class Catalog:
    """The tools of one directory listing, by tool name (see the module)."""

    def __init__(self, agents: Iterable[AgentInfo] = ()) -> None:
        offered: dict[str, list[AgentInfo]] = {}
        for agent in sorted(agents, key=lambda a: a.did):
            for capability in dict.fromkeys(agent.capabilities):
                offered.setdefault(capability, []).append(agent)
        self.tools: dict[str, ToolEntry] = {}
        for capability in sorted(offered, key=lambda c: (tool_name(c) != c, c)):
            name = tool_name(capability)
            if name in self.tools:
                continue  # a mapped name equal to another capability's own: the own one wins
            providers = offered[capability]
            declared = next(
                (a.capability(capability) for a in providers if capability in a.declarations),
                Capability(capability),
            )
            self.tools[name] = ToolEntry(name, declared, tuple(a.did for a in providers))

    def get(self, name: str) -> ToolEntry | None:
        """The tool called ``name``, or None."""
        return self.tools.get(name)

    def signature(self) -> tuple[tuple[str, str, str], ...]:
        """What a client sees of the tools (names, descriptions, schemas), to tell changes."""
        return tuple(
            (entry.name, entry.description, repr(sorted(entry.input_schema.items())))
            for entry in self.tools.values()
        )

    def adopt_turns(self, previous: Catalog) -> None:
        """Keep the round-robin position of tools that ``previous`` had too."""
        for name, entry in self.tools.items():
            old = previous.tools.get(name)
            if old is not None:
                entry._turn = old._turn
