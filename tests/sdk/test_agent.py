"""Agent handlers and automatic answers, against a real gateway."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from support.gateway import Gateway

from aiconexus import (
    Agent,
    ClientClosedError,
    GatewayClient,
    Identity,
    Message,
    MessageType,
    RemoteExecutionError,
)

from .conftest import fast_options


async def _answer(client: GatewayClient, sent_id: str) -> Message:
    async with asyncio.timeout(5):
        while True:
            message = await client.recv()
            if message.correlation_id == sent_id:
                return message


async def test_handler_results_become_replies_of_the_matching_type(
    gateway: Gateway,
) -> None:
    """INTENT -> INTENT with the returned payload, OFFER -> ANSWER, correlated to the request."""
    agent = Agent(Identity.generate(), **fast_options())

    @agent.on(MessageType.INTENT)
    async def negotiate(msg: Message) -> dict[str, Any]:
        return {"status": "offer", "cost": 3}

    @agent.on("OFFER")
    async def answer(msg: Message) -> dict[str, Any]:
        return {"sdp": "answer to " + msg.payload["sdp"]}

    async with (
        agent.connect(gateway.ws_url),
        GatewayClient(gateway.ws_url, Identity.generate(), **fast_options()) as client,
    ):
        intent = Message.create(client.identity, "INTENT", agent.did, {"query": "price?"})
        await client.send_message(intent)
        reply = await _answer(client, intent.id)
        assert (reply.type, reply.payload) == (MessageType.INTENT, {"status": "offer", "cost": 3})
        offer = Message.create(client.identity, "OFFER", agent.did, {"sdp": "o"})
        await client.send_message(offer)
        reply = await _answer(client, offer.id)
        assert (reply.type, reply.payload) == (MessageType.ANSWER, {"sdp": "answer to o"})


async def test_defaults_without_handlers(gateway: Gateway) -> None:
    """No handler: EXEC_REQUEST gets an error response, an opening INTENT `unsupported`."""
    agent = Agent(Identity.generate(), **fast_options())
    async with (
        agent.connect(gateway.ws_url),
        GatewayClient(gateway.ws_url, Identity.generate(), **fast_options()) as client,
    ):
        with pytest.raises(RemoteExecutionError, match="no handler"):
            await client.request(agent.did, {}, timeout=5)
        intent = Message.create(client.identity, "INTENT", agent.did, {"task": "x"})
        await client.send_message(intent)
        assert (await _answer(client, intent.id)).payload == {"status": "unsupported"}


async def test_a_raising_handler_for_other_types_answers_internal_error(
    gateway: Gateway,
) -> None:
    """An INTENT handler that raises answers ERROR INTERNAL_ERROR with the message only."""
    agent = Agent(Identity.generate(), **fast_options())

    @agent.on("INTENT")
    async def broken(msg: Message) -> dict[str, Any]:
        raise ValueError("cannot price this")

    async with (
        agent.connect(gateway.ws_url),
        GatewayClient(gateway.ws_url, Identity.generate(), **fast_options()) as client,
    ):
        intent = Message.create(client.identity, "INTENT", agent.did, {"query": "?"})
        await client.send_message(intent)
        error = await _answer(client, intent.id)
    assert error.type == MessageType.ERROR
    assert error.payload == {"code": "INTERNAL_ERROR", "message": "cannot price this"}


async def test_answers_are_never_answered_automatically(gateway: Gateway) -> None:
    """An INTENT that is itself a reply gets no automatic answer, so agents cannot bounce."""
    agent = Agent(Identity.generate(), **fast_options())
    async with (
        agent.connect(gateway.ws_url),
        GatewayClient(gateway.ws_url, Identity.generate(), **fast_options()) as client,
    ):
        opening = Message.create(client.identity, "INTENT", agent.did, {"query": "hello?"})
        await client.send_message(opening)
        answer = await _answer(client, opening.id)
        assert answer.payload == {"status": "unsupported"}
        await client.reply(answer, "INTENT", {"status": "unsupported"})
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):
                await client.recv()


def test_registration_mistakes_are_refused_early() -> None:
    """Client-only types, plain functions and use before connecting raise at once."""
    agent = Agent(Identity.generate())
    with pytest.raises(ValueError):
        agent.on("REGISTER")
    with pytest.raises(TypeError):
        agent.on("OFFER")(lambda msg: None)  # type: ignore[type-var]
    with pytest.raises(ClientClosedError):
        _ = agent.client


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"max_concurrency": 0}, "max_concurrency must be >= 1"),
        ({"handler_wait_s": -1.0}, "handler_wait_s must be >= 0"),
    ],
)
def test_options_out_of_range_are_refused_when_the_agent_is_made(
    options: dict[str, Any], problem: str
) -> None:
    """Each option is checked in the constructor, with its name in the message."""
    with pytest.raises(ValueError, match=problem):
        Agent(Identity.generate(), **options)


def test_a_client_refuses_an_unknown_rate_limit_policy() -> None:
    """``on_rate_limited`` is "hold" or "raise"; anything else is refused by name."""
    with pytest.raises(ValueError, match="on_rate_limited must be 'hold' or 'raise', not 'drop'"):
        GatewayClient("ws://127.0.0.1:9/ws", Identity.generate(), on_rate_limited="drop")  # type: ignore[arg-type]


async def test_a_ping_handler_may_return_nothing_and_a_bad_result_is_an_error(
    gateway: Gateway,
) -> None:
    """A PING handler returning None: a PONG all the same. A string from an OFFER handler.

    The string breaks the handler's contract: the sender gets ERROR INTERNAL_ERROR saying so,
    and the agent serves on.
    """
    agent = Agent(Identity.generate(), **fast_options())
    pinged: list[str] = []

    @agent.on(MessageType.PING)
    async def count(msg: Message) -> None:
        pinged.append(msg.id)

    @agent.on("OFFER")
    async def wrong(msg: Message) -> Any:
        return "not a mapping"

    async with (
        agent.connect(gateway.ws_url),
        GatewayClient(gateway.ws_url, Identity.generate(), **fast_options()) as client,
    ):
        ping = Message.create(client.identity, "PING", agent.did, {"sequence": 7})
        await client.send_message(ping)
        assert (await _answer(client, ping.id)).type == MessageType.PONG
        assert pinged == [ping.id]
        offer = Message.create(client.identity, "OFFER", agent.did, {"sdp": "o"})
        await client.send_message(offer)
        error = await _answer(client, offer.id)
        assert error.type == MessageType.ERROR
        assert error.payload == {
            "code": "INTERNAL_ERROR",
            "message": "a OFFER handler must return a mapping or None",
        }
        again = Message.create(client.identity, "PING", agent.did, {"sequence": 8})
        await client.send_message(again)
        assert (await _answer(client, again.id)).type == MessageType.PONG
