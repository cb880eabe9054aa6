"""Checks on incoming frames: authenticity, addressing, freshness and duplicates."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from aiconexus import Identity, Message, MessageType, format_timestamp
from aiconexus._inbound import InboundFilter

ME = Identity.from_seed(b"1" * 32)
PEER = Identity.from_seed(b"2" * 32)
GATEWAY = Identity.from_seed(b"g" * 32)
MALLORY = Identity.from_seed(b"m" * 32)
NOW = datetime(2026, 11, 26, 9, 0, 0, tzinfo=UTC)


def make_filter() -> InboundFilter:
    return InboundFilter(ME.did, clock_skew_s=300, max_age_s=3600)


def offer(sent: datetime = NOW, *, sender: Identity = PEER, to: str | None = None) -> Message:
    return Message.create(
        sender, MessageType.OFFER, to or ME.did, {"sdp": "v=0"}, timestamp=format_timestamp(sent)
    )


def test_a_fresh_signed_frame_is_accepted() -> None:
    """A correctly signed frame addressed to us passes."""
    assert make_filter().check(offer(), GATEWAY.did, NOW, 0.0) is None


def test_the_same_frame_twice_is_a_duplicate() -> None:
    """The second copy of (from, id) is refused: exactly once to user code."""
    checks = make_filter()
    message = offer()
    assert checks.check(message, GATEWAY.did, NOW, 0.0) is None
    assert "duplicate" in (checks.check(message, GATEWAY.did, NOW, 1.0) or "")


def test_a_resigned_copy_with_the_same_id_is_a_duplicate() -> None:
    """A re-sent frame re-signed with a new timestamp keeps its id and is still dropped."""
    checks = make_filter()
    first = offer()
    again = Message.create(
        PEER,
        MessageType.OFFER,
        ME.did,
        {"sdp": "v=0"},
        id=first.id,
        timestamp=format_timestamp(NOW + timedelta(seconds=290)),
    )
    assert checks.check(first, GATEWAY.did, NOW, 0.0) is None
    later = NOW + timedelta(seconds=290)
    assert "duplicate" in (checks.check(again, GATEWAY.did, later, 290.0) or "")


def test_same_id_from_another_sender_is_not_a_duplicate() -> None:
    """Ids are unique per sender only."""
    checks = make_filter()
    first = offer()
    other = Message.create(MALLORY, MessageType.OFFER, ME.did, {"sdp": "x"}, id=first.id)
    assert checks.check(first, GATEWAY.did, NOW, 0.0) is None
    now = datetime.now(UTC)
    assert checks.check(other, GATEWAY.did, now, 0.0) is None


def test_a_tampered_payload_fails_verification() -> None:
    """Changing one payload byte after signing breaks the signature."""
    data = json.loads(offer().to_json())
    data["payload"]["sdp"] = "v=1"
    tampered = Message.parse(json.dumps(data))
    assert "verification" in (make_filter().check(tampered, GATEWAY.did, NOW, 0.0) or "")


def test_a_frame_signed_by_another_key_fails_verification() -> None:
    """A frame claiming PEER's DID but signed by MALLORY is refused."""
    genuine = json.loads(offer().to_json())
    forged = Message.create(MALLORY, MessageType.OFFER, ME.did, {"sdp": "evil"})
    genuine["payload"] = {"sdp": "evil"}
    genuine["signature"] = json.loads(forged.to_json())["signature"]
    problem = make_filter().check(Message.parse(json.dumps(genuine)), GATEWAY.did, NOW, 0.0)
    assert "verification" in (problem or "")


def test_a_frame_for_someone_else_is_refused() -> None:
    """Misrouted frames are not handed to user code."""
    problem = make_filter().check(offer(to=MALLORY.did), GATEWAY.did, NOW, 0.0)
    assert "addressed" in (problem or "")


def test_frames_from_the_future_and_too_old_ones_are_refused() -> None:
    """More than the skew ahead, or older than max_age, is refused."""
    checks = make_filter()
    ahead = offer(NOW + timedelta(seconds=301))
    assert "future" in (checks.check(ahead, GATEWAY.did, NOW, 0.0) or "")
    old = offer(NOW - timedelta(seconds=3601))
    assert "old" in (checks.check(old, GATEWAY.did, NOW, 0.0) or "")


def test_stored_agent_frames_may_be_older_than_the_skew() -> None:
    """An hour-old frame from the offline store (within max_age) is accepted."""
    stored = offer(NOW - timedelta(seconds=1800))
    assert make_filter().check(stored, GATEWAY.did, NOW, 0.0) is None


def test_gateway_frames_must_be_within_the_skew() -> None:
    """A gateway frame older than the skew is refused: the gateway only sends live frames."""
    pong = Message.create(
        GATEWAY,
        MessageType.PONG,
        ME.did,
        {},
        timestamp=format_timestamp(NOW - timedelta(seconds=400)),
    )
    assert "old" in (make_filter().check(pong, GATEWAY.did, NOW, 0.0) or "")


def test_agents_may_not_send_gateway_types_and_the_gateway_not_agent_types() -> None:
    """ACK from an agent, or OFFER from the gateway, is refused."""
    checks = make_filter()
    fake_ack = Message.create(
        PEER, MessageType.ACK, ME.did, {"status": "delivered", "ids": ["x"]}, timestamp=NOW
    )
    assert "may not" in (checks.check(fake_ack, GATEWAY.did, NOW, 0.0) or "")
    gateway_offer = offer(sender=GATEWAY)
    assert "does not send" in (checks.check(gateway_offer, GATEWAY.did, NOW, 0.0) or "")


def test_remembered_ids_expire_after_the_window() -> None:
    """After max_age + skew the pair is forgotten (a frame that old is refused by age anyway)."""
    checks = make_filter()
    message = offer()
    assert checks.check(message, GATEWAY.did, NOW, 0.0) is None
    assert checks.check(message, GATEWAY.did, NOW, 3899.0) is not None
    assert checks.check(message, GATEWAY.did, NOW, 3901.0) is None
