"""The policy file without a gateway: parsing, line numbers of mistakes, decisions, counting.

Also the throttled log that keeps a flood of refusals from flooding the log.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from aiconexus.protocol import Identity
from aiconexus_gateway.guards.access import AccessPolicy
from aiconexus_gateway.guards.policy_file import (
    DEFAULT_RULE,
    PolicyError,
    load_policy,
    parse_policy,
)

A = Identity.generate().did
B = Identity.generate().did
C = Identity.generate().did


def test_first_matching_rule_decides() -> None:
    """Rules are tried in file order; the first that matches decides; else the default."""
    policy = parse_policy(
        f"""
default = "deny"
[[rule]]
name = "a-to-b-ok"
action = "allow"
from = "{A}"
to = "{B}"
[[rule]]
name = "a-never"
action = "deny"
from = "{A}"
[[rule]]
name = "billing-anything"
action = "allow"
capability = ["billing", "audit"]
"""
    )
    assert policy.decide(A, B, (), "OFFER") is None
    assert policy.decide(A, C, ("billing",), "OFFER") == "a-never"
    assert policy.decide(B, C, ("audit", "x"), "INTENT") is None
    assert policy.decide(B, C, ("x",), "INTENT") == DEFAULT_RULE
    assert [rule.name for rule in policy.rules] == ["a-to-b-ok", "a-never", "billing-anything"]


def test_types_are_indexed() -> None:
    """A rule with ``type`` matches only those types; one without matches every type."""
    policy = parse_policy(
        'default = "allow"\n'
        '[[rule]]\nname = "no-exec"\naction = "deny"\ntype = ["EXEC_REQUEST", "REGISTER"]\n'
    )
    assert policy.decide(A, B, (), "EXEC_REQUEST") == "no-exec"
    assert policy.decide(A, B, (), "REGISTER") == "no-exec"
    assert policy.decide(A, B, (), "EXEC_RESPONSE") is None
    assert parse_policy('default = "allow"').decide(A, B, (), "OFFER") is None


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        (
            'default = "allow"\n[[rule]]\nname = "x"\naction = "deny"\nform = "a"\n',
            5,
            "unknown key 'form'",
        ),
        ('default = "maybe"\n', 1, 'default must be "allow" or "deny"'),
        ('colour = "red"\n', 1, "unknown key 'colour'"),
        (
            '[[rule]]\nname = "x"\naction = "deny"\n\n[[rule]]\nname = "x"\naction = "allow"\n',
            6,
            "already taken",
        ),
        ('[[rule]]\nname = "default"\naction = "deny"\n', 2, "already taken"),
        ('[[rule]]\nname = "has space"\naction = "deny"\n', 2, "needs a name"),
        ('[[rule]]\naction = "deny"\n', 1, "needs a name"),
        ('[[rule]]\nname = "x"\n', 1, 'action must be "allow" or "deny"'),
        ('[[rule]]\nname = "x"\naction = "deny"\ntype = "PING!"\n', 4, "not a type agents send"),
        ('[[rule]]\nname = "x"\naction = "deny"\ntype = "ACK"\n', 4, "not a type agents send"),
        (
            "[[rule]]\nname = 'x'\naction = 'deny'\nfrom = 'did:key:nope'\n",
            4,
            "not an Ed25519 did:key",
        ),
        ("[[rule]]\nname = 'x'\naction = 'deny'\n'to' = []\n", 4, "a string or a list of strings"),
        ("[[rule]]\nname = 'x'\naction = 'deny'\ncapability = 3\n", 4, "a string or a list"),
        ('rule = "nope"\n', 1, "rules are [[rule]] tables"),
        ('default = "allow"\n\n[[rule\n', 3, "not valid TOML"),
    ],
)
def test_mistakes_name_the_line(text: str, line: int, problem: str) -> None:
    """Each kind of mistake: PolicyError naming the source, the line and the problem."""
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "p.toml")
    assert caught.value.line == line, caught.value
    assert problem in caught.value.problem
    assert str(caught.value).startswith(f"p.toml line {line}: ")


def test_unreadable_file(tmp_path: Path) -> None:
    """A missing file is a PolicyError naming the path."""
    with pytest.raises(PolicyError, match="cannot be read"):
        load_policy(tmp_path / "absent.toml")


def test_refusals_are_counted_by_rule(tmp_path: Path) -> None:
    """AccessPolicy counts each refusal under its rule's name (hub.metrics.policy_refused)."""
    path = tmp_path / "p.toml"
    path.write_text(f'default = "deny"\n[[rule]]\nname = "a"\naction = "deny"\nfrom = "{A}"\n')
    refused: Counter[str] = Counter()
    policy = AccessPolicy(path, refused)
    assert policy.refusal(A, B, (), "OFFER") == "a"
    assert policy.refusal(A, B, (), "OFFER") == "a"
    assert policy.refusal(B, A, (), "OFFER") == DEFAULT_RULE
    assert refused == {"a": 2, DEFAULT_RULE: 1}
    path.write_text('default = "allow"\n')
    assert policy.reload()
    assert policy.refusal(A, B, (), "OFFER") is None
    path.write_text('default = "nope"\n')
    assert not policy.reload()
    assert policy.refusal(A, B, (), "OFFER") is None


def test_the_protocol_example_compiles() -> None:
    """The example policy of PROTOCOL.md section 8.6 is a valid policy that means what it says."""
    text = (Path(__file__).resolve().parents[2] / "PROTOCOL.md").read_text(encoding="utf-8")
    section = text[text.index("### 8.6 Access policy") :]
    example = section[section.index("```toml\n") + 8 : section.index("```\n", 10)]
    policy = parse_policy(example, "PROTOCOL.md")
    vault = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
    banned = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp"
    assert policy.decide(A, vault, ("billing",), "EXEC_REQUEST") is None
    assert policy.decide(A, vault, ("other",), "EXEC_REQUEST") == "exec-needs-billing"
    assert policy.decide(A, B, (), "ICE_CANDIDATE") == "no-ice"
    assert policy.decide(banned, B, (), "REGISTER") == "banned"
    assert policy.decide(A, B, (), "REGISTER") is None
