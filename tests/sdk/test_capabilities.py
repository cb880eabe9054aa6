"""Per-capability declarations: the SDK announces them, the gateway keeps and lists them."""

from __future__ import annotations

import doctest
from typing import Any

import pytest
from support.gateway import Gateway

import aiconexus.protocol.capabilities
from aiconexus import Agent, Capability, Identity, list_agents
from aiconexus.protocol import (
    MalformedMessageError,
    MessageType,
    capability_from_info,
    split_capabilities,
    validate_payload,
)

from .conftest import fast_options

ADD = Capability(
    "add",
    description="Add two integers",
    args_schema={
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
    },
    examples=({"a": 1, "b": 2},),
)


def test_the_module_examples_hold() -> None:
    """The doctest of the capabilities module."""
    assert doctest.testmod(aiconexus.protocol.capabilities).failed == 0


def test_names_and_declarations_split_and_read_back() -> None:
    """Plain names stay plain; a declaration reads back equal; a name twice is listed once."""
    names, info = split_capabilities(["echo", ADD, Capability("echo"), ADD])
    assert names == ["echo", "add"]
    assert list(info) == ["add"]
    assert capability_from_info("add", info["add"]) == ADD
    with pytest.raises(ValueError, match="declared twice"):
        split_capabilities([ADD, Capability("add", description="other")])


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"description": "x" * 4097}, "description"),
        ({"args_schema": {"type": "string"}}, "type"),
        ({"examples": ({},) * 17}, "examples"),
        ({"examples": ([1],)}, "args object"),
    ],
)
def test_a_declaration_out_of_bounds_is_refused_where_it_is_made(
    options: dict[str, Any], problem: str
) -> None:
    """ValueError naming the problem, before anything is sent."""
    with pytest.raises(ValueError, match=problem):
        Capability("c", **options)


@pytest.mark.parametrize(
    ("info", "location"),
    [
        ({"b": {}}, "capability_info names 'b'"),
        ({"a": {"description": 5}}, "capability_info.a.description"),
        ({"a": {"args_schema": {"type": "array"}}}, "capability_info.a"),
        ({"a": {"examples": [{}] * 17}}, "capability_info.a.examples"),
        ({"a": {"examples": ["no"]}}, "capability_info.a.examples.0"),
        ({"a": []}, "capability_info.a"),
    ],
)
def test_the_register_schema_names_the_member_at_fault(info: Any, location: str) -> None:
    """A wrong capability_info is MALFORMED_MESSAGE with the member's path in the message."""
    payload = {"nonce": "n", "capabilities": ["a"], "capability_info": info}
    with pytest.raises(MalformedMessageError, match=location.replace(".", r"\.")):
        validate_payload(MessageType.REGISTER, payload)


def test_a_directory_entry_of_the_wrong_form_reads_leniently() -> None:
    """Members of the wrong type are dropped when reading a directory, never raised."""
    read = capability_from_info("x", {"description": 3, "args_schema": [], "examples": "e"})
    assert read == Capability("x") and not read.declared
    assert capability_from_info("x", None) == Capability("x")


async def test_declarations_reach_the_directory(gateway: Gateway) -> None:
    """An Agent with ``capabilities=["echo", Capability(...)]`` is listed with its declaration."""
    agent = Agent(Identity.generate(), capabilities=["sdk-cap-echo", ADD], **fast_options())
    async with agent.connect(gateway.ws_url):
        [info] = [a for a in await list_agents(gateway.ws_url, "add") if a.did == agent.did]
    assert info.capabilities == ("sdk-cap-echo", "add")
    assert info.capability("add") == ADD
    assert info.capability("sdk-cap-echo") == Capability("sdk-cap-echo")
