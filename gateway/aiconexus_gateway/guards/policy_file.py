"""The access policy file: named allow/deny rules, read from TOML, compiled for the hot path.

A policy file (``POLICY_FILE``) looks like this::

    default = "allow"                 # what happens when no rule matches: allow or deny

    [[rule]]
    name = "billing-may-exec"         # unique; quoted in the ERROR of a refusal
    action = "allow"
    type = "EXEC_REQUEST"             # message type(s)
    to = "did:key:z6Mk..."            # recipient DID(s)
    capability = "billing"            # the sender announced one of these capabilities

    [[rule]]
    name = "exec-needs-billing"
    action = "deny"
    type = "EXEC_REQUEST"
    to = "did:key:z6Mk..."

Every condition (``from``, ``to``, ``capability``, ``type``) takes a string or a list of
strings and matches when the frame's value is one of them; a rule without a condition
matches every frame. Rules are tried in file order and the first one that matches decides;
when none matches, ``default`` decides. A refusal by ``default = "deny"`` is named
``default``. ``default`` must be present: a file without it (an empty one too, as left by
an interrupted write) is refused like any malformed file. This module is I/O-free apart
from :func:`load_policy` reading the file.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiconexus.protocol import GATEWAY_TYPES, MessageType, is_valid_did
from aiconexus_gateway.errors import GatewayError

__all__ = [
    "DEFAULT_RULE",
    "POLICY_TYPES",
    "Policy",
    "PolicyError",
    "Rule",
    "load_policy",
    "parse_policy",
    "refusal_message",
]

DEFAULT_RULE = "default"
"""The rule name of a refusal by ``default = "deny"``."""

POLICY_TYPES = frozenset(t.value for t in MessageType if t not in GATEWAY_TYPES)
"""Message types a rule may name (those agents send)."""

_CONDITIONS = {"from": "senders", "to": "recipients", "capability": "capabilities", "type": "types"}
_RULE_KEYS = frozenset({"name", "action", *_CONDITIONS})
_ACTIONS = ("allow", "deny")
_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


class PolicyError(GatewayError, ValueError):
    """The policy file cannot be used; ``line`` (1-based) points at the problem if known."""

    def __init__(self, source: str, problem: str, line: int | None = None) -> None:
        where = f"{source} line {line}" if line is not None else source
        super().__init__(f"{where}: {problem}")
        self.source = source
        self.problem = problem
        self.line = line


def refusal_message(rule: str) -> str:
    """The text of the ERROR UNAUTHORIZED that a refusal by ``rule`` answers."""
    return f'refused by access policy rule "{rule}"'


@dataclass(frozen=True, slots=True)
class Rule:
    """One compiled rule; a condition of None matches everything."""

    name: str
    allow: bool
    senders: frozenset[str] | None = None
    recipients: frozenset[str] | None = None
    capabilities: frozenset[str] | None = None
    types: frozenset[str] | None = None

    def matches(self, sender: str, recipient: str, capabilities: Iterable[str]) -> bool:
        """True if the frame meets every condition but ``type`` (indexed by :class:`Policy`)."""
        if self.senders is not None and sender not in self.senders:
            return False
        if self.recipients is not None and recipient not in self.recipients:
            return False
        return self.capabilities is None or not self.capabilities.isdisjoint(capabilities)


@dataclass(frozen=True, slots=True)
class Policy:
    """Compiled rules: per message type, the rules that can match it, in file order."""

    rules: tuple[Rule, ...] = ()
    default_allow: bool = True
    _by_type: Mapping[str, tuple[Rule, ...]] = field(default_factory=dict, repr=False)

    @classmethod
    def compile(cls, rules: Iterable[Rule], *, default_allow: bool) -> Policy:
        """Index ``rules`` by the message types they can match."""
        ordered = tuple(rules)
        by_type = {
            kind: tuple(r for r in ordered if r.types is None or kind in r.types)
            for kind in POLICY_TYPES
        }
        return cls(ordered, default_allow, by_type)

    def decide(
        self, sender: str, recipient: str, capabilities: Iterable[str], kind: str
    ) -> str | None:
        """None when the frame is allowed, else the name of the rule that refuses it."""
        for rule in self._by_type.get(kind, ()):
            if rule.matches(sender, recipient, capabilities):
                return None if rule.allow else rule.name
        return None if self.default_allow else DEFAULT_RULE


def load_policy(path: Path) -> Policy:
    """Read and compile the policy file at ``path``; PolicyError says what and where."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(str(path), f"cannot be read: {exc}") from None
    return parse_policy(text, str(path))


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    """Compile the TOML ``text`` of a policy; PolicyError names ``source`` and the line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        line = int(match.group(1)) if match else None
        problem = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise PolicyError(source, f"not valid TOML: {problem}", line) from None
    lines = text.splitlines()
    for key in data:
        if key not in ("default", "rule"):
            raise PolicyError(source, f"unknown key {key!r}", _top_line(lines, key))
    default = data.get("default")
    if default is not None and default not in _ACTIONS:
        raise PolicyError(source, 'default must be "allow" or "deny"', _top_line(lines, "default"))
    tables = data.get("rule", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise PolicyError(source, "rules are [[rule]] tables", _top_line(lines, "rule"))
    rules: list[Rule] = []
    for index, table in enumerate(tables):
        try:
            rules.append(_rule(table, {r.name for r in rules}))
        except _Problem as problem:
            raise PolicyError(source, problem.text, _rule_line(lines, index, problem.key)) from None
    if default is None:  # an empty or truncated file must not turn a deny policy into allow
        raise PolicyError(source, 'no `default`: say default = "allow" or default = "deny"')
    return Policy.compile(rules, default_allow=default == "allow")


class _Problem(Exception):
    def __init__(self, key: str | None, text: str) -> None:
        super().__init__(text)
        self.key = key
        self.text = text


def _rule(table: dict[str, Any], taken: set[str]) -> Rule:
    for key in table:
        if key not in _RULE_KEYS:
            allowed = ", ".join(sorted(_RULE_KEYS))
            raise _Problem(key, f"unknown key {key!r} in a rule (allowed: {allowed})")
    name = table.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise _Problem("name", "a rule needs a name of 1-64 letters, digits or _ . : -")
    if name in taken or name == DEFAULT_RULE:
        raise _Problem("name", f"rule name {name!r} is already taken")
    action = table.get("action")
    if action not in _ACTIONS:
        raise _Problem("action", f'rule {name!r}: action must be "allow" or "deny"')
    conditions = {
        attribute: _strings(table, key, name)
        for key, attribute in _CONDITIONS.items()
        if key in table
    }
    for key in ("from", "to"):
        for did in _strings(table, key, name) or ():
            if not is_valid_did(did):
                raise _Problem(key, f"rule {name!r}: {key} {did!r} is not an Ed25519 did:key")
    for kind in conditions.get("types") or ():
        if kind not in POLICY_TYPES:
            raise _Problem("type", f"rule {name!r}: {kind!r} is not a type agents send")
    return Rule(name=name, allow=action == "allow", **conditions)


def _strings(table: dict[str, Any], key: str, name: str) -> frozenset[str] | None:
    value = table.get(key)
    if value is None:
        return None
    values = [value] if isinstance(value, str) else value
    if (
        not isinstance(values, list)
        or not values
        or not all(isinstance(v, str) and v for v in values)
    ):
        raise _Problem(key, f"rule {name!r}: {key} must be a string or a list of strings")
    return frozenset(values)


_HEADER = re.compile(r"^\s*\[")
_RULE_HEADER = re.compile(r"^\s*\[\[\s*rule\s*\]\]")


def _key_line(lines: list[str], start: int, key: str) -> int | None:
    """1-based line of ``key = ...`` from ``start`` (0-based) up to the next table header."""
    pattern = re.compile(rf"^\s*(?:{re.escape(key)}|\"{re.escape(key)}\"|'{re.escape(key)}')\s*=")
    for number in range(start, len(lines)):
        if number > start and _HEADER.match(lines[number]):
            return None
        if pattern.match(lines[number]):
            return number + 1
    return None


def _top_line(lines: list[str], key: str) -> int | None:
    return _key_line(lines, 0, key)


def _rule_line(lines: list[str], index: int, key: str | None) -> int | None:
    """The line of ``key`` in the ``index``-th ``[[rule]]`` (its header line if not found)."""
    headers = [n for n, line in enumerate(lines) if _RULE_HEADER.match(line)]
    if index >= len(headers):
        return _top_line(lines, "rule")
    start = headers[index]
    found = _key_line(lines, start, key) if key is not None else None
    return found if found is not None else start + 1
