"""Per-capability declarations: a description, a JSON Schema for ``args``, and examples.

An agent announces capability names in REGISTER's ``capabilities``; it MAY also describe each
of them in REGISTER's optional ``capability_info`` member (PROTOCOL.md 6.1), an object from
capability name to a declaration::

    {"add": {"description": "Add two integers",
             "args_schema": {"type": "object",
                             "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                             "required": ["a", "b"]},
             "examples": [{"a": 1, "b": 2}]}}

The gateway keeps the declarations with the agent and ``GET /agents`` lists them, so anyone
reading the directory (a bridge that makes capabilities callable as tools, a person) learns
how to call a capability. Every member of a declaration is optional.

>>> add = Capability("add", description="Add two integers", args_schema={"type": "object"})
>>> names, info = split_capabilities(["echo", add])
>>> names, info
(['echo', 'add'], {'add': {'description': 'Add two integers', 'args_schema': {'type': 'object'}}})
>>> capability_from_info("add", info["add"]) == add
True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "MAX_DESCRIPTION_LENGTH",
    "MAX_EXAMPLES",
    "Capability",
    "capability_from_info",
    "split_capabilities",
]

MAX_DESCRIPTION_LENGTH = 4096
"""Most characters in a declaration's ``description``."""
MAX_EXAMPLES = 16
"""Most entries in a declaration's ``examples``."""


@dataclass(frozen=True, slots=True)
class Capability:
    """A capability with its declaration; ``Capability("echo")`` is the plain name ``"echo"``.

    * ``description``: what the capability does, for people and LLMs choosing a tool.
    * ``args_schema``: a JSON Schema (an object) that the ``args`` of an EXEC_REQUEST for this
      capability follow; its ``type``, when given, must be ``"object"``.
    * ``examples``: example ``args`` objects (at most :data:`MAX_EXAMPLES`).
    """

    name: str
    description: str | None = None
    args_schema: Mapping[str, Any] | None = None
    examples: tuple[Mapping[str, Any], ...] = field(default=())

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("a capability name is a non-empty string")
        if self.description is not None and len(self.description) > MAX_DESCRIPTION_LENGTH:
            raise ValueError(f"description: at most {MAX_DESCRIPTION_LENGTH} characters")
        if self.args_schema is not None:
            if not isinstance(self.args_schema, Mapping):
                raise ValueError("args_schema must be a JSON Schema object")
            if self.args_schema.get("type", "object") != "object":
                raise ValueError('args_schema: the "type" of args is "object"')
        object.__setattr__(self, "examples", tuple(self.examples))
        if len(self.examples) > MAX_EXAMPLES:
            raise ValueError(f"examples: at most {MAX_EXAMPLES}")
        if not all(isinstance(example, Mapping) for example in self.examples):
            raise ValueError("examples: each example is an args object")

    @property
    def declared(self) -> bool:
        """True when anything beyond the name is declared."""
        return bool(self.description is not None or self.args_schema is not None or self.examples)

    def to_info(self) -> dict[str, Any]:
        """The declaration as it goes in REGISTER's ``capability_info`` (members that are set)."""
        info: dict[str, Any] = {}
        if self.description is not None:
            info["description"] = self.description
        if self.args_schema is not None:
            info["args_schema"] = dict(self.args_schema)
        if self.examples:
            info["examples"] = [dict(example) for example in self.examples]
        return info


def split_capabilities(
    items: Iterable[str | Capability],
) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """REGISTER's ``capabilities`` and ``capability_info`` for names and :class:`Capability` s.

    Plain strings and capabilities without a declaration add only their name; a name given
    twice is announced once (ValueError if two declarations of one name differ).
    """
    names: list[str] = []
    info: dict[str, dict[str, Any]] = {}
    for item in items:
        capability = item if isinstance(item, Capability) else Capability(str(item))
        if capability.name not in names:
            names.append(capability.name)
        if not capability.declared:
            continue
        declaration = capability.to_info()
        if info.setdefault(capability.name, declaration) != declaration:
            raise ValueError(f"capability {capability.name!r} is declared twice, differently")
    return names, info


def capability_from_info(name: str, info: Any) -> Capability:
    """The :class:`Capability` ``name`` declared by ``info`` (one ``capability_info`` entry).

    Lenient, for reading a directory: members of the wrong form are left out, never raised.
    """
    if not isinstance(info, Mapping):
        return Capability(name)
    description = info.get("description")
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION_LENGTH:
        description = None
    schema = info.get("args_schema")
    if not isinstance(schema, Mapping) or schema.get("type", "object") != "object":
        schema = None
    examples = info.get("examples")
    if not isinstance(examples, list) or len(examples) > MAX_EXAMPLES:
        examples = []
    return Capability(
        name,
        description=description,
        args_schema=schema,
        examples=tuple(example for example in examples if isinstance(example, Mapping)),
    )
