"""Messages are built from the envelope check alone: the same result as the model's validation."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from aiconexus.protocol import Identity, IoapError, MalformedMessageError, Message

_value: st.SearchStrategy[Any] = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.text(max_size=3)
    | st.text(min_size=127, max_size=130)
    | st.lists(st.text(max_size=2), max_size=2)
    | st.dictionaries(st.text(max_size=2), st.integers(), max_size=2)
)
_fields = ("id", "type", "from", "to", "timestamp", "correlation_id", "payload", "signature")


@st.composite
def _envelopes(draw: st.DrawFn) -> dict[str, Any]:
    """A valid envelope object with some fields replaced, dropped, or an extra one added."""
    envelope: dict[str, Any] = {
        "version": "1.0",
        "id": "m-1",
        "type": draw(st.sampled_from(["INTENT", "ACK", "PING"])),
        "from": "did:key:z6MkSender",
        "to": draw(st.none() | st.just("did:key:z6MkRecipient")),
        "timestamp": "2026-11-27T10:00:00.000Z",
        "payload": {},
        "signature": "c2ln",
    }
    if draw(st.booleans()):
        envelope["correlation_id"] = "m-0"
    for name in draw(st.lists(st.sampled_from(_fields), max_size=2, unique=True)):
        if draw(st.integers(0, 4)) == 0:
            envelope.pop(name, None)
        else:
            envelope[name] = draw(_value | st.sampled_from(["EXEC_REQUEST", "NOPE", ""]))
    if draw(st.integers(0, 9)) == 0:
        envelope["extra"] = 1
    return envelope


@settings(max_examples=600, deadline=None)
@given(_envelopes())
def test_built_as_the_model_validates(envelope: dict[str, Any]) -> None:
    """An envelope is refused exactly when the model refuses it, else gives the same message."""
    try:
        expected: Message | None = Message.model_validate(envelope)
    except ValidationError:
        expected = None
    try:
        built: Message | None = Message._from_dict(envelope)
    except IoapError:
        built = None
    if expected is None:
        assert built is None
        return
    assert built is not None
    assert built.__dict__ == expected.__dict__
    assert built.model_fields_set == expected.model_fields_set
    assert built.to_dict() == envelope


def test_create_refuses_bad_fields_with_malformed_message() -> None:
    """Fields the caller passes are checked: too long an id or correlation id, a bad ``to``."""
    alice = Identity.generate()
    with pytest.raises(MalformedMessageError):
        Message.create(alice, "PING", alice.did, {}, id="x" * 200)
    with pytest.raises(MalformedMessageError):
        Message.create(alice, "PING", alice.did, {}, correlation_id="")
    with pytest.raises(MalformedMessageError):
        Message.create(alice, "PING", 42, {})  # type: ignore[arg-type]


def test_caches_do_not_change_equality() -> None:
    """A created message equals its parsed copy, whichever caches either has filled."""
    alice = Identity.generate()
    sent = Message.create(alice, "INTENT", alice.did, {"query": "q", "share": 0.25})
    sent.to_json()
    got = Message.parse(sent.to_json())
    assert got == sent
    got.verify()
    assert got == sent and got.sent_at_s == pytest.approx(sent.sent_at.timestamp(), abs=1e-6)
    assert got != Message.create(alice, "INTENT", alice.did, {"query": "q"})
