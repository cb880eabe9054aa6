"""EXEC_REQUEST / EXEC_RESPONSE members of PROTOCOL.md 6.1: timeout_ms, stream, more."""

from __future__ import annotations

from typing import Any

import pytest

from aiconexus.protocol import MalformedMessageError, MessageType
from aiconexus.protocol.payloads import validate_payload


@pytest.mark.parametrize(
    "payload",
    [
        {"status": "success", "result": 1, "more": True},
        {"status": "success", "result": 2, "more": False},
        {"status": "error", "error": "no such tool"},
    ],
)
def test_stream_parts_fit(payload: dict[str, Any]) -> None:
    """Parts of a streamed answer carry a boolean ``more``; the last none or false."""
    validate_payload(MessageType.EXEC_RESPONSE, payload)


@pytest.mark.parametrize("more", ["yes", 1, {}])
def test_more_must_be_a_boolean(more: object) -> None:
    """A ``more`` that is not a boolean makes the payload malformed."""
    with pytest.raises(MalformedMessageError, match="more"):
        validate_payload(MessageType.EXEC_RESPONSE, {"status": "success", "more": more})


@pytest.mark.parametrize(
    ("field", "value"), [("timeout_ms", -1), ("timeout_ms", 1.5), ("stream", "true")]
)
def test_request_members_are_typed(field: str, value: object) -> None:
    """timeout_ms is an integer >= 0, stream a boolean."""
    with pytest.raises(MalformedMessageError, match=field):
        validate_payload(MessageType.EXEC_REQUEST, {"args": {}, field: value})
