"""What the client does with each inbound frame, decided without a gateway (the Dispatcher)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from aiconexus import (
    Identity,
    Message,
    MessageType,
    RateLimitedError,
    ReplayDetectedError,
    UnknownAgentError,
    format_timestamp,
)
from aiconexus._dispatch import MAX_RETRY_AFTER_S, Action, Dispatcher, Outcome
from aiconexus._inbound import InboundFilter
from aiconexus._pending import ReplyWaiters
from aiconexus._writer import Writer

ME = Identity.from_seed(b"1" * 32)
PEER = Identity.from_seed(b"2" * 32)
GATEWAY = Identity.from_seed(b"g" * 32)
MALLORY = Identity.from_seed(b"m" * 32)


class Client:
    """A dispatcher with the bookkeeping it asks, fed frames as the read loop feeds it.

    The outbox's owner (a Writer with no session: it writes nothing) applies what the
    dispatcher decides about the gateway's answers, as on a connection.
    """

    def __init__(self, *, hold_when_rate_limited: bool = True) -> None:
        self.writer = Writer(ME, resign_after_s=60.0)
        self.replies = ReplyWaiters()
        self.pongs = ReplyWaiters()
        self.dispatcher = Dispatcher(
            InboundFilter(ME.did),
            sends=self.writer,
            replies=self.replies,
            pongs=self.pongs,
            hold_when_rate_limited=hold_when_rate_limited,
        )
        self.clock = 0.0

    def receive(self, frame: str | bytes | Message) -> Outcome:
        """Check, route what passed, have the writer apply it: what the connection does."""
        text = frame.to_json() if isinstance(frame, Message) else frame
        self.clock += 1.0
        outcome = self.dispatcher.check(text, GATEWAY.did, datetime.now(UTC), self.clock)
        if outcome.action is Action.VERIFIED and outcome.message is not None:
            outcome = self.dispatcher.route(outcome.message, GATEWAY.did)
        self.writer.on_answer(outcome)
        return outcome

    def sent(self, attempts: int = 1) -> Message:
        """A frame of ours awaiting its ACK, written ``attempts`` times."""
        message = Message.create(ME, MessageType.OFFER, PEER.did, {"sdp": "v=0"})
        self.writer.add(message).attempts = attempts
        return message


def from_gateway(type: MessageType, payload: dict[str, Any], answers: str | None = None) -> Message:
    return Message.create(GATEWAY, type, ME.did, payload, correlation_id=answers)


def gateway_error(code: str, answers: str | None, **details: Any) -> Message:
    payload: dict[str, Any] = {"code": code, "message": "refused"}
    if details:
        payload["details"] = details
    return from_gateway(MessageType.ERROR, payload, answers)


async def test_an_agent_frame_nobody_awaits_is_delivered_and_acknowledged() -> None:
    """An INTENT from another agent goes to recv(), and its id into the next recipient ACK."""
    intent = Message.create(PEER, MessageType.INTENT, ME.did, {"query": "hi"})
    outcome = Client().receive(intent)
    assert (outcome.action, outcome.message, outcome.receipt) == (Action.DELIVER, intent, intent.id)


async def test_a_ping_from_an_agent_is_delivered_not_answered() -> None:
    """A peer's PING reaches user code (Agent answers it); the dispatcher writes nothing."""
    ping = Message.create(PEER, MessageType.PING, ME.did, {})
    assert Client().receive(ping).action is Action.DELIVER


async def test_a_response_resolves_the_waiting_request_instead_of_the_inbox() -> None:
    """The EXEC_RESPONSE answering a request() resolves its future; it is still acknowledged."""
    client = Client()
    request_id = "req-1"
    waiter = client.replies.expect(request_id, PEER.did, {MessageType.EXEC_RESPONSE})
    response = Message.create(
        PEER, MessageType.EXEC_RESPONSE, ME.did, {"status": "success"}, correlation_id=request_id
    )
    outcome = client.receive(response)
    assert (outcome.action, outcome.receipt) == (Action.REPLY, response.id)
    assert waiter.result() == response


async def test_an_answer_from_a_third_party_does_not_resolve_the_request() -> None:
    """MALLORY's frame carrying our request's id is delivered as a frame, not as the answer."""
    client = Client()
    waiter = client.replies.expect("req-1", PEER.did, {MessageType.EXEC_RESPONSE})
    forged = Message.create(
        MALLORY, MessageType.EXEC_RESPONSE, ME.did, {"status": "success"}, correlation_id="req-1"
    )
    assert client.receive(forged).action is Action.DELIVER
    assert not waiter.done()


async def test_a_redelivered_frame_is_dropped_and_acknowledged_again() -> None:
    """The same frame twice (as after a gateway crash): delivered once, both acknowledged."""
    client = Client()
    intent = Message.create(PEER, MessageType.INTENT, ME.did, {"query": "once"})
    first, second = client.receive(intent), client.receive(intent)
    assert first.action is Action.DELIVER and second.action is Action.DROP
    assert "duplicate" in second.detail
    assert first.receipt == second.receipt == intent.id


async def test_a_forged_agent_frame_is_dropped_but_acknowledged() -> None:
    """Dropping a frame that fails verification is final, so the gateway may forget it."""
    forged = Message.create(MALLORY, MessageType.OFFER, ME.did, {"sdp": "x"})
    text = forged.to_json().replace(MALLORY.did, PEER.did)
    outcome = Client().receive(text)
    assert outcome.action is Action.DROP and "verification" in outcome.detail
    assert outcome.receipt == forged.id


@pytest.mark.parametrize("frame", [b"\x00binary", "not json", '{"type": "OFFER"}'])
async def test_an_unparsable_frame_is_dropped_without_a_receipt(frame: str | bytes) -> None:
    """Without a parsed id there is nothing to acknowledge; the reason is kept for the log."""
    outcome = Client().receive(frame)
    assert (outcome.action, outcome.message, outcome.receipt) == (Action.DROP, None, None)
    assert outcome.detail


async def test_gateway_frames_are_never_acknowledged_back() -> None:
    """Recipient ACKs are for frames of other agents only, whatever the gateway sent."""
    client = Client()
    pong = from_gateway(MessageType.PONG, {})
    offer = Message.create(GATEWAY, MessageType.OFFER, ME.did, {"sdp": "v=0"})
    for outcome in (client.receive(pong), client.receive(offer)):
        assert outcome.receipt is None
    assert client.receive(offer).action is Action.DROP  # the gateway does not send OFFER


async def test_an_ack_settles_the_sends_it_names() -> None:
    """ACK ``delivered`` for two ids resolves both sends; an unknown id is ignored."""
    client = Client()
    one, two = client.sent(), client.sent()
    ack = from_gateway(MessageType.ACK, {"status": "delivered", "ids": [one.id, two.id]})
    assert client.receive(ack).action is Action.SETTLED
    assert [client.writer.awaiting(m.id) for m in (one, two)] == [None, None]
    stray = from_gateway(MessageType.ACK, {"status": "queued", "ids": ["gone"]})
    assert client.receive(stray).action is Action.IGNORED


async def test_an_ack_settles_with_its_status() -> None:
    """The future of the send gets the ACK's status."""
    client = Client()
    message = Message.create(ME, MessageType.OFFER, PEER.did, {"sdp": "v=0"})
    entry = client.writer.add(message)
    client.receive(from_gateway(MessageType.ACK, {"status": "queued", "ids": [message.id]}))
    assert entry.future.result() == "queued"


async def test_replay_detected_after_a_resend_counts_as_accepted() -> None:
    """REPLAY_DETECTED for a frame written on an earlier connection resolves ``queued``.

    On a first write it fails the send; for a copy re-sent on the same connection it marks
    the send accepted (its ACK is still to come) without settling it.
    """
    client = Client()
    resent = Message.create(ME, MessageType.OFFER, PEER.did, {"sdp": "a"})
    fresh = Message.create(ME, MessageType.OFFER, PEER.did, {"sdp": "b"})
    again = Message.create(ME, MessageType.OFFER, PEER.did, {"sdp": "c"})
    resent_entry, fresh_entry = client.writer.add(resent), client.writer.add(fresh)
    again_entry = client.writer.add(again)
    resent_entry.attempts, fresh_entry.attempts, again_entry.attempts = 2, 1, 2
    resent_entry.resumed = True
    for message in (resent, fresh):
        outcome = client.receive(gateway_error("REPLAY_DETECTED", message.id))
        assert outcome.action is Action.SETTLED
    assert resent_entry.future.result() == "queued"
    with pytest.raises(ReplayDetectedError):
        fresh_entry.future.result()
    outcome = client.receive(gateway_error("REPLAY_DETECTED", again.id))
    assert outcome.action is Action.ACCEPTED and outcome.answered == (again_entry,)
    assert again_entry.accepted and not again_entry.future.done()
    client.receive(from_gateway(MessageType.ACK, {"status": "delivered", "ids": [again.id]}))
    assert again_entry.future.result() == "delivered"
    late = client.receive(gateway_error("REPLAY_DETECTED", again.id))
    assert late.action is Action.IGNORED


async def test_internal_error_writes_the_same_frame_again_after_a_growing_pause() -> None:
    """INTERNAL_ERROR (outcome unknown) fails nothing: the send is written again, same id.

    A REPLAY_DETECTED to a copy re-sent after it means the first copy was taken: ``queued``.
    """
    client = Client()
    message = client.sent()
    entry = client.writer.awaiting(message.id)
    assert entry is not None
    pauses = []
    for _ in range(3):
        outcome = client.receive(gateway_error("INTERNAL_ERROR", message.id))
        assert (outcome.action, outcome.entry) == (Action.UNCERTAIN, entry)
        assert not entry.future.done()
        pauses.append(outcome.hold_s)
        entry.attempts += 1  # the connection writes it again after the pause
    assert pauses == [0.25, 0.5, 1.0]
    outcome = client.receive(gateway_error("REPLAY_DETECTED", message.id))
    assert outcome.action is Action.SETTLED and entry.future.result() == "queued"


async def test_a_replay_before_the_internal_error_waits_one_after_it_settles() -> None:
    """A replay refused while the first copy is handled waits; after INTERNAL_ERROR it settles.

    Once the first copy's answer is INTERNAL_ERROR, the next copy's REPLAY_DETECTED means
    taken: ``queued``.
    """
    client = Client()
    message = client.sent(attempts=2)
    entry = client.writer.awaiting(message.id)
    assert entry is not None
    assert client.receive(gateway_error("REPLAY_DETECTED", message.id)).action is Action.ACCEPTED
    outcome = client.receive(gateway_error("INTERNAL_ERROR", message.id))
    assert outcome.action is Action.UNCERTAIN and not entry.accepted
    entry.attempts += 1
    assert client.receive(gateway_error("REPLAY_DETECTED", message.id)).action is Action.SETTLED
    assert entry.future.result() == "queued"


async def test_an_ack_settles_a_frame_answered_internal_error_before() -> None:
    """The copy written again is taken: its ACK settles the send with its status."""
    client = Client()
    message = client.sent()
    entry = client.writer.awaiting(message.id)
    assert entry is not None
    client.receive(gateway_error("INTERNAL_ERROR", message.id))
    client.receive(from_gateway(MessageType.ACK, {"status": "delivered", "ids": [message.id]}))
    assert entry.future.result() == "delivered"


async def test_an_error_for_a_send_fails_it() -> None:
    """UNKNOWN_AGENT answering a send raises UnknownAgentError from that send."""
    client = Client()
    message = Message.create(ME, MessageType.OFFER, PEER.did, {"sdp": "v=0"})
    entry = client.writer.add(message)
    assert client.receive(gateway_error("UNKNOWN_AGENT", message.id)).action is Action.SETTLED
    with pytest.raises(UnknownAgentError):
        entry.future.result()


@pytest.mark.parametrize(
    ("details", "hold_s"),
    [({"retry_after_ms": 250}, 0.25), ({}, 1.0), ({"retry_after_ms": 10**9}, MAX_RETRY_AFTER_S)],
)
async def test_rate_limited_holds_the_send_instead_of_failing_it(
    details: dict[str, Any], hold_s: float
) -> None:
    """RATE_LIMITED leaves the send pending and says how long to hold (capped at 60 s)."""
    client = Client()
    message = client.sent()
    outcome = client.receive(gateway_error("RATE_LIMITED", message.id, **details))
    assert outcome.action is Action.RATE_LIMITED
    assert outcome.entry is client.writer.awaiting(message.id) and outcome.hold_s == hold_s
    assert outcome.entry is not None and not outcome.entry.future.done()


async def test_rate_limited_fails_the_send_when_asked_not_to_hold() -> None:
    """hold_when_rate_limited=False (on_rate_limited="raise"): the send fails RATE_LIMITED."""
    client = Client(hold_when_rate_limited=False)
    message = client.sent()
    entry = client.writer.awaiting(message.id)
    outcome = client.receive(gateway_error("RATE_LIMITED", message.id, retry_after_ms=5))
    assert outcome.action is Action.SETTLED
    assert entry is not None
    with pytest.raises(RateLimitedError):
        entry.future.result()


async def test_a_pong_or_an_error_answers_a_ping_to_the_gateway() -> None:
    """PONG resolves the awaited PING, an ERROR fails it; a PONG nobody awaits is ignored."""
    client = Client()
    answered = client.pongs.expect("ping-1", GATEWAY.did, {MessageType.PONG})
    refused = client.pongs.expect("ping-2", GATEWAY.did, {MessageType.PONG})
    pong = from_gateway(MessageType.PONG, {}, "ping-1")
    assert client.receive(pong).action is Action.PING_ANSWERED
    assert answered.result() == pong
    assert client.receive(gateway_error("RATE_LIMITED", "ping-2")).action is Action.PING_ANSWERED
    with pytest.raises(Exception, match="RATE_LIMITED"):
        refused.result()
    late = from_gateway(MessageType.PONG, {}, "ping-3")
    assert client.receive(late).action is Action.IGNORED


async def test_an_error_that_answers_nothing_awaited_is_reported() -> None:
    """An ERROR for an id nobody awaits (or none) is reported for the log, nothing else."""
    client = Client()
    for answers in ("long-gone", None):
        outcome = client.receive(gateway_error("INTERNAL_ERROR", answers))
        assert outcome.action is Action.REPORTED and "INTERNAL_ERROR" in outcome.detail


async def test_a_stale_gateway_frame_settles_nothing() -> None:
    """A replayed old ACK fails the freshness check: the send stays pending."""
    client = Client()
    message = client.sent()
    old = Message.create(
        GATEWAY,
        MessageType.ACK,
        ME.did,
        {"status": "delivered", "ids": [message.id]},
        timestamp=format_timestamp(datetime(2020, 1, 1, tzinfo=UTC)),
    )
    assert client.receive(old).action is Action.DROP
    assert client.writer.awaiting(message.id) is not None
