"""Refused frames of a registered session: precise ERROR codes, the session keeps working.

Codes, in the order the gateway checks:
MESSAGE_TOO_LARGE (over MAX_MESSAGE_SIZE), MALFORMED_MESSAGE (binary frame, not JSON, not an
object, missing/unknown/wrongly typed envelope fields, unknown type, duplicate keys, bad
timestamp, payload not fitting its type, `to` not a did:key), UNSUPPORTED_VERSION (version
other than "1.0"), DID_MISMATCH (from is not the session's DID), UNAUTHORIZED (an agent
sending a gateway-only type), INVALID_SIGNATURE, CLOCK_SKEW, REPLAY_DETECTED.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from support.client import RawClient, forge

from aiconexus.protocol import Identity, format_timestamp

from .test_frames import compensated_duplicate_frame


async def _still_routes(alice: RawClient, bob: RawClient) -> None:
    sent = await alice.send_message("OFFER", bob.did, {"sdp": "after the error"})
    assert await bob.recv_text() == sent.to_json()
    assert (await alice.expect("ACK")).correlation_id == sent.id


def _cases(alice: RawClient, bob: RawClient) -> list[tuple[str, str | bytes, bool]]:
    """(expected code, frame, whether the ERROR carries the frame's id)."""
    ident = alice.identity
    valid = json.loads(alice.make("OFFER", bob.did, {"sdp": "x"}).to_json())
    tampered = dict(valid, payload={"sdp": "changed"})
    old = format_timestamp(datetime.now(UTC) - timedelta(hours=1))
    return [
        ("MALFORMED_MESSAGE", b"binary", False),
        ("MALFORMED_MESSAGE", "{not json", False),
        ("MALFORMED_MESSAGE", '"a string"', False),
        ("MALFORMED_MESSAGE", forge(ident, to=bob.did, payload={"sdp": 1}), True),
        ("MALFORMED_MESSAGE", forge(ident, type="TELEPORT", to=bob.did), True),
        ("MALFORMED_MESSAGE", forge(ident, to=bob.did, payload=[]), True),
        ("MALFORMED_MESSAGE", forge(ident, to=bob.did, payload={"sdp": "x"}, extra=1), True),
        ("MALFORMED_MESSAGE", forge(ident, to=bob.did, payload={"sdp": "x"}, timestamp=...), True),
        (
            "MALFORMED_MESSAGE",
            forge(ident, to=bob.did, payload={"sdp": "x"}, timestamp="now"),
            True,
        ),
        ("MALFORMED_MESSAGE", forge(ident, to=bob.did, payload={"sdp": "x"}, id=""), False),
        ("MALFORMED_MESSAGE", forge(ident, to="bob", payload={"sdp": "x"}), True),
        ("MALFORMED_MESSAGE", forge(ident, to=12, payload={"sdp": "x"}), True),
        ("MALFORMED_MESSAGE", forge(ident, to=bob.did, payload={"sdp": "x"}, signature=5), True),
        ("MALFORMED_MESSAGE", json.dumps(valid)[:-1] + ',"id":"dup"}', True),
        ("UNSUPPORTED_VERSION", forge(ident, version="2.0", to=bob.did), True),
        ("DID_MISMATCH", forge(Identity.generate(), to=bob.did, payload={"sdp": "x"}), True),
        ("UNAUTHORIZED", forge(ident, type="ACK", to=bob.did, payload={}), True),
        ("INVALID_SIGNATURE", json.dumps(tampered), True),
        ("INVALID_SIGNATURE", forge(ident, to=bob.did, payload={"sdp": "x"}, signature="AA"), True),
        ("CLOCK_SKEW", forge(ident, to=bob.did, payload={"sdp": "x"}, timestamp=old), True),
    ]


async def test_each_bad_frame_gets_its_code_and_session_survives(pair: Any) -> None:
    """Every bad frame gets its documented code (correlated when the id is readable)."""
    alice, bob = pair
    for code, frame, correlated in _cases(alice, bob):
        await alice.send_text(frame)
        error = await alice.expect_error(code)
        if correlated:
            assert error.correlation_id == json.loads(frame)["id"], (code, frame)
        assert error.to == alice.did
    await _still_routes(alice, bob)


async def test_replay_is_detected(pair: Any) -> None:
    """REPLAY_DETECTED: the same (from, id) again, even with a new valid signature."""
    alice, bob = pair
    first = await alice.send_message("OFFER", bob.did, {"sdp": "x"})
    await bob.recv_text()
    await alice.expect("ACK")
    await alice.send_text(first.to_json())
    await alice.expect_error("REPLAY_DETECTED", first.id)
    again = alice.make("ANSWER", bob.did, {"sdp": "y"}, id=first.id)
    await alice.send_text(again.to_json())
    await alice.expect_error("REPLAY_DETECTED", first.id)
    await _still_routes(alice, bob)


async def test_duplicate_keys_of_equal_length_are_refused(pair: Any) -> None:
    """MALFORMED_MESSAGE: duplicates made up for by numbers orjson writes longer (1e2)."""
    alice, bob = pair
    text = compensated_duplicate_frame(alice.identity, bob.did)
    await alice.send_text(text)
    await alice.expect_error("MALFORMED_MESSAGE", json.loads(text)["id"])
    await _still_routes(alice, bob)


async def test_rejected_frame_does_not_use_up_its_id(pair: Any) -> None:
    """A frame refused as malformed can be sent again, fixed, with the same id."""
    alice, bob = pair
    broken = forge(alice.identity, id="fixed-later", to=bob.did, payload={})
    await alice.send_text(broken)
    await alice.expect_error("MALFORMED_MESSAGE", "fixed-later")
    fixed = await alice.send_message("OFFER", bob.did, {"sdp": "x"}, id="fixed-later")
    assert await bob.recv_text() == fixed.to_json()
    await alice.expect("ACK")


async def test_oversized_frame_is_refused_and_others_unaffected(start_gateway: Any) -> None:
    """MESSAGE_TOO_LARGE (with the id) for a frame over MAX_MESSAGE_SIZE; session keeps going."""
    gw = start_gateway(max_message_size=4096)
    alice = await RawClient.connect(gw.ws_url)
    bob = await RawClient.connect(gw.ws_url)
    big = alice.make("OFFER", bob.did, {"sdp": "x" * 5000})
    await alice.send_text(big.to_json())
    error = await alice.expect_error("MESSAGE_TOO_LARGE", big.id)
    assert error.payload["details"] == {"max_message_size": 4096}
    multibyte = alice.make("OFFER", bob.did, {"sdp": "é" * 1900})  # < 4096 chars, > 4096 bytes
    await alice.send_text(multibyte.to_json())
    await alice.expect_error("MESSAGE_TOO_LARGE", multibyte.id)
    await _still_routes(alice, bob)


async def test_huge_frame_closes_only_that_connection(start_gateway: Any) -> None:
    """A frame over 4x MAX_MESSAGE_SIZE closes that connection with 1009; others go on."""
    gw = start_gateway(max_message_size=4096)
    alice = await RawClient.connect(gw.ws_url)
    bob = await RawClient.connect(gw.ws_url)
    mallory = await RawClient.connect(gw.ws_url)
    await mallory.send_text("x" * 20000)
    assert await mallory.closed() == 1009
    await _still_routes(alice, bob)


async def test_invalid_utf8_text_frame_is_closed_quietly(start_gateway: Any) -> None:
    """A text frame that is not UTF-8: close 1007, one log line and no traceback."""
    gw = start_gateway()
    alice = await RawClient.connect(gw.ws_url)
    bob = await RawClient.connect(gw.ws_url)
    await alice.ws.send(b'{"bad":"\xff\xfe"}', text=True)
    assert await alice.closed() == 1007
    output = gw.wait_for_log("not valid UTF-8")
    assert "Traceback" not in output and "UnicodeDecodeError" not in output
    carol = await RawClient.connect(gw.ws_url)
    await _still_routes(carol, bob)
