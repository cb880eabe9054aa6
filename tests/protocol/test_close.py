"""Close codes and the ``"CODE: message"`` close reason, written and read back without a socket."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aiconexus.protocol import (
    MAX_CLOSE_REASON,
    CloseCode,
    ConnectionRefusedByPeerError,
    ErrorCode,
    IoapError,
    RateLimitedError,
    close_reason,
    error_from_close,
    error_from_code,
    fit_close_reason,
    parse_close_reason,
)

PROTOCOL = Path(__file__).resolve().parents[2] / "PROTOCOL.md"


def _documented_close_codes() -> set[int]:
    text = PROTOCOL.read_text(encoding="utf-8")
    table = text.split("### 9.2 WebSocket close codes", 1)[1].split("\n\n", 2)[1]
    return {int(code) for code in re.findall(r"^\| (\d{4}) \|", table, re.MULTILINE)}


def test_the_enum_holds_exactly_the_documented_close_codes() -> None:
    """Every code of PROTOCOL.md 9.2 is a CloseCode, and every CloseCode sent is documented."""
    documented = _documented_close_codes()
    assert documented, "the close code table of PROTOCOL.md 9.2 was not found"
    sent = {int(code) for code in CloseCode} - {CloseCode.ABNORMAL_CLOSURE}
    assert sent == documented


def test_close_codes_have_their_rfc_and_ioap_values() -> None:
    """The names the gateway uses map to the values of RFC 6455 and IoAP."""
    assert CloseCode.NORMAL_CLOSURE == 1000
    assert CloseCode.GOING_AWAY == 1001
    assert CloseCode.POLICY_VIOLATION == 1008
    assert CloseCode.TRY_AGAIN_LATER == 1013
    assert CloseCode.REPLACED == 4000


def test_close_reason_is_code_colon_message() -> None:
    """A code and a message, or the error object itself, give ``CODE: message``."""
    assert close_reason("TIMEOUT", "late") == "TIMEOUT: late"
    assert close_reason(ErrorCode.UNAUTHORIZED, "no") == "UNAUTHORIZED: no"
    error = error_from_code(ErrorCode.RATE_LIMITED, "slow down", {"retry_after_ms": 5})
    assert close_reason(error) == "RATE_LIMITED: slow down"
    assert close_reason(error, "other text") == "RATE_LIMITED: other text"


def test_close_reason_fits_a_close_frame_in_whole_characters() -> None:
    """A long reason is cut to 123 bytes of UTF-8 without splitting a character."""
    reason = close_reason(ErrorCode.MALFORMED_MESSAGE, "é" * 200)
    encoded = reason.encode("utf-8")
    assert len(encoded) <= MAX_CLOSE_REASON
    assert len(encoded) >= MAX_CLOSE_REASON - 1  # at most the half character is dropped
    assert reason.startswith("MALFORMED_MESSAGE: éé")
    assert fit_close_reason("\ud800x") == "?x"  # a lone surrogate cannot go on the wire


@pytest.mark.parametrize("code", list(ErrorCode))
def test_every_error_code_survives_the_round_trip(code: ErrorCode) -> None:
    """What close_reason writes, parse_close_reason reads back (message with ': ' inside too)."""
    assert parse_close_reason(close_reason(code, "a: b")) == (code, "a: b")
    assert parse_close_reason(close_reason(code, "")) == (code, "")


@pytest.mark.parametrize(
    "reason",
    ["replaced", "slow consumer", "shutdown", "", "TIMEOUT:late", "NOT_A_CODE: x", "timeout: x"],
)
def test_plain_reasons_are_not_errors(reason: str) -> None:
    """Only a known error code followed by ': ' counts (as the SDK has always read it)."""
    assert parse_close_reason(reason) is None
    assert error_from_close(reason) is None


def test_error_from_close_builds_the_typed_error() -> None:
    """The reason of a refused connection becomes the protocol error of its code."""
    error = error_from_close("CONNECTION_REFUSED: gateway is at MAX_CONNECTIONS")
    assert isinstance(error, ConnectionRefusedByPeerError)
    assert error.message == "gateway is at MAX_CONNECTIONS"
    limited = error_from_close("RATE_LIMITED: too many REGISTERs")
    assert isinstance(limited, RateLimitedError) and isinstance(limited, IoapError)
