"""Signed envelopes: create, parse, verify, freshness, payload schemas and the shipped vectors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiconexus.protocol import (
    AGENT_TYPES,
    ERROR_CLASSES,
    ClockSkewError,
    ErrorCode,
    Identity,
    InvalidSignatureError,
    IoapError,
    MalformedMessageError,
    Message,
    MessageType,
    RemoteTimeoutError,
    UnsupportedVersionError,
    canonicalize,
    error_from_code,
    format_timestamp,
    parse_timestamp,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
ALICE = Identity.from_seed(bytes(31) + b"\x01")
BOB = Identity.from_seed(bytes(31) + b"\x02")


def offer(**kwargs: Any) -> Message:
    return Message.create(ALICE, "OFFER", BOB.did, {"sdp": "v=0"}, **kwargs)


def frame_with(**changes: Any) -> str:
    data = offer().to_dict()
    data.update(changes)
    return json.dumps(data)


def test_create_parse_verify() -> None:
    """A created message survives the wire and verifies."""
    sent = offer(correlation_id="c-1")
    got = Message.parse(sent.to_json())
    got.verify()
    assert got == sent
    assert got.from_ == ALICE.did and got.to == BOB.did and got.correlation_id == "c-1"


def test_no_correlation_id_is_omitted() -> None:
    """correlation_id is left out of the frame when absent."""
    assert "correlation_id" not in json.loads(offer().to_json())


def test_payload_extra_keys_kept_and_signed() -> None:
    """Unknown payload keys are allowed, kept, and covered by the signature."""
    sent = Message.create(ALICE, "OFFER", BOB.did, {"sdp": "v=0", "x-trace": [1, 2]})
    got = Message.parse(sent.to_json())
    got.verify()
    assert got.payload["x-trace"] == [1, 2]


def test_signature_checked_over_frame_as_received() -> None:
    """Key order and whitespace of the received frame do not matter, content does."""
    data = offer().to_dict()
    spaced = json.dumps(dict(reversed(list(data.items()))), indent=3)
    Message.parse(spaced).verify()


def test_tampering_detected() -> None:
    """Changing the payload after signing breaks the signature."""
    data = offer().to_dict()
    data["payload"] = {"sdp": "v=1"}
    with pytest.raises(InvalidSignatureError):
        Message.parse(json.dumps(data)).verify()


def test_wrong_signer_detected() -> None:
    """A frame claiming to be from Alice but signed by Bob fails."""
    forged = Message.create(BOB, "OFFER", ALICE.did, {"sdp": "v=0"}).to_dict()
    forged["from"] = ALICE.did
    with pytest.raises(InvalidSignatureError):
        Message.parse(json.dumps(forged)).verify()


@pytest.mark.parametrize("signature", ["", "not base64!", "AAAA", "A" * 86 + "=="])
def test_bad_signature_encodings(signature: str) -> None:
    """Signatures that are not 64 bytes of unpadded base64url are INVALID_SIGNATURE."""
    with pytest.raises(InvalidSignatureError):
        Message.parse(frame_with(signature=signature)).verify()


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        ("not json", MalformedMessageError),
        ("[1, 2]", MalformedMessageError),
        (b"\xff\xfe", MalformedMessageError),
        ('{"version": "1.0", "version": "1.0"}', MalformedMessageError),
        ('{"version": "1.0", "n": NaN}', MalformedMessageError),
        (frame_with(version="2.0"), UnsupportedVersionError),
        (frame_with(version=1), MalformedMessageError),
        (frame_with(type="TELEPORT"), MalformedMessageError),
        (frame_with(id=""), MalformedMessageError),
        (frame_with(id="x" * 129), MalformedMessageError),
        (frame_with(id=5), MalformedMessageError),
        (frame_with(to=5), MalformedMessageError),
        (frame_with(payload=[]), MalformedMessageError),
        (frame_with(payload={"sdp": 5}), MalformedMessageError),
        (frame_with(payload={}), MalformedMessageError),
        (frame_with(timestamp="2026-11-26 09:17:09"), MalformedMessageError),
        (frame_with(timestamp="2026-13-26T09:17:09Z"), MalformedMessageError),
        (frame_with(extra_field=1), MalformedMessageError),
        (frame_with(signature=None), MalformedMessageError),
    ],
)
def test_malformed_frames(frame: str | bytes, error: type[IoapError]) -> None:
    """Each malformed frame raises the precise protocol error."""
    with pytest.raises(error):
        Message.parse(frame)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"from": 5}, "from must be a string"),
        ({"timestamp": 5}, "timestamp must be a string"),
        ({"correlation_id": ""}, "correlation_id must be a string of 1..128"),
        ({"correlation_id": 5}, "correlation_id must be a string of 1..128"),
        ({"correlation_id": "x" * 129}, "correlation_id must be a string of 1..128"),
    ],
)
def test_envelope_fields_of_the_wrong_type_are_named(changes: dict[str, Any], problem: str) -> None:
    """The MALFORMED_MESSAGE text names the field and what it must be."""
    with pytest.raises(MalformedMessageError, match=problem):
        Message.parse(frame_with(**changes))


def test_create_refuses_what_it_cannot_sign() -> None:
    """A payload with no canonical form, or an envelope field out of bounds, is refused."""
    with pytest.raises(MalformedMessageError, match="payload is not I-JSON"):
        Message.create(ALICE, "OFFER", BOB.did, {"sdp": "v=0", "x": float("nan")})
    with pytest.raises(MalformedMessageError, match=r"correlation_id must be a string of 1\.\.128"):
        Message.create(ALICE, "OFFER", BOB.did, {"sdp": "v=0"}, correlation_id="")


def test_missing_fields() -> None:
    """Every required envelope field is required."""
    for key in ("id", "type", "from", "to", "timestamp", "payload", "signature"):
        data = offer().to_dict()
        del data[key]
        with pytest.raises(MalformedMessageError, match=key):
            Message.parse(json.dumps(data))


def test_out_of_range_number_is_malformed() -> None:
    """Numbers beyond the double range make the frame malformed when it is verified."""
    data = offer().to_dict()
    data["payload"]["big"] = 10**400
    with pytest.raises(MalformedMessageError):
        Message.parse(json.dumps(data)).verify()


VALID_PAYLOADS: dict[MessageType, dict[str, Any]] = {
    MessageType.REGISTER: {"nonce": "n", "capabilities": ["a"], "metadata": {}},
    MessageType.UNREGISTER: {},
    MessageType.OFFER: {"sdp": "v=0"},
    MessageType.ANSWER: {"sdp": "v=0"},
    MessageType.ICE_CANDIDATE: {"candidate": "c", "sdp_mid": "0", "sdp_mline_index": 0},
    MessageType.INTENT: {"query": "who translates?"},
    MessageType.EXEC_REQUEST: {"args": {}, "timeout_ms": 10, "stream": False},
    MessageType.EXEC_RESPONSE: {"status": "error", "error": "boom"},
    MessageType.ERROR: {"code": "TIMEOUT", "message": "late"},
    MessageType.PING: {"sequence": 1},
    MessageType.PONG: {},
    MessageType.CHALLENGE: {"nonce": "n"},
    MessageType.REGISTERED: {"session_id": "s", "heartbeat_interval_s": 15, "queued": 0},
    MessageType.ACK: {"status": "queued", "ids": ["x"]},
}
INVALID_PAYLOADS: dict[MessageType, dict[str, Any]] = {
    MessageType.REGISTER: {"capabilities": ["a"]},
    MessageType.UNREGISTER: {"reason": 5},
    MessageType.OFFER: {"sdp": None},
    MessageType.ANSWER: {},
    MessageType.ICE_CANDIDATE: {"candidate": "c", "sdp_mline_index": -1},
    MessageType.INTENT: {"unrelated": 1},
    MessageType.EXEC_REQUEST: {"args": "x"},
    MessageType.EXEC_RESPONSE: {"status": "maybe"},
    MessageType.ERROR: {"code": "X"},
    MessageType.PING: {"sequence": "1"},
    MessageType.PONG: {"sequence": True},
    MessageType.CHALLENGE: {},
    MessageType.REGISTERED: {"session_id": "s", "heartbeat_interval_s": 0, "queued": 0},
    MessageType.ACK: {"status": "delivered", "ids": []},
}


@pytest.mark.parametrize("message_type", list(MessageType))
def test_payload_schemas(message_type: MessageType) -> None:
    """Every type accepts its valid payload and rejects a payload that does not fit."""
    Message.create(ALICE, message_type, BOB.did, VALID_PAYLOADS[message_type])
    with pytest.raises(MalformedMessageError):
        Message.create(ALICE, message_type, BOB.did, INVALID_PAYLOADS[message_type])


def test_eleven_agent_types() -> None:
    """The protocol has eleven agent types and fourteen in all."""
    assert len(AGENT_TYPES) == 11 and len(MessageType) == 14


def test_clock_skew() -> None:
    """Timestamps beyond the allowed skew, either way, raise ClockSkewError."""
    now = datetime.now(UTC)
    offer(timestamp=now - timedelta(seconds=10)).check_fresh(now, skew_s=30)
    with pytest.raises(ClockSkewError):
        offer(timestamp=now - timedelta(seconds=31)).check_fresh(now, skew_s=30)
    with pytest.raises(ClockSkewError):
        offer(timestamp=now + timedelta(seconds=31)).check_fresh(now, skew_s=30)


def test_timestamp_format() -> None:
    """Timestamps are RFC 3339 UTC with Z and milliseconds; fractions are optional on input."""
    moment = datetime(2026, 11, 26, 9, 17, 9, 123456, tzinfo=UTC)
    assert format_timestamp(moment) == "2026-11-26T09:17:09.123Z"
    assert parse_timestamp("2026-11-26T09:17:09Z") == moment.replace(microsecond=0)
    assert parse_timestamp("2026-11-26T09:17:09.123456789Z") == moment


def test_replies() -> None:
    """Reply helpers address the sender and correlate to the request."""
    request = Message.create(ALICE, "EXEC_REQUEST", BOB.did, {"args": {"x": 1}})
    ok = request.exec_response(BOB, {"y": 2}, execution_time_ms=1.5)
    assert (ok.to, ok.correlation_id, ok.payload["status"]) == (ALICE.did, request.id, "success")
    failed = request.exec_response(BOB, error="boom")
    assert failed.payload == {"status": "error", "error": "boom"}
    ping = Message.create(ALICE, "PING", BOB.did, {"sequence": 3})
    assert ping.pong(BOB).payload == {"sequence": 3}
    assert offer().answer(BOB, "v=0 answer").type is MessageType.ANSWER


def test_messages_are_immutable() -> None:
    """Message is frozen."""
    with pytest.raises(Exception, match="frozen"):
        offer().id = "other"  # type: ignore[misc]


def test_error_table_complete() -> None:
    """Every wire code maps to its own exception class, and back."""
    assert set(ERROR_CLASSES) == set(ErrorCode)
    for code, cls in ERROR_CLASSES.items():
        error = error_from_code(code, "m", {"k": 1})
        assert type(error) is cls and error.code == code
        assert error.to_payload() == {"code": code, "message": "m", "details": {"k": 1}}
    assert isinstance(error_from_code("TIMEOUT"), TimeoutError)
    assert isinstance(error_from_code("TIMEOUT"), RemoteTimeoutError)
    unknown = error_from_code("SOMETHING_NEW", "m")
    assert type(unknown) is IoapError and unknown.code == "SOMETHING_NEW"


json_leaf = st.none() | st.booleans() | st.integers(-(2**31), 2**31) | st.text(max_size=20)
json_obj = st.dictionaries(st.text(max_size=10), json_leaf, max_size=5)


@settings(max_examples=60, deadline=None)
@given(sdp=st.text(max_size=200), extra=json_obj)
def test_sign_verify_round_trip(sdp: str, extra: dict[str, Any]) -> None:
    """Any signed OFFER verifies after a trip through its JSON text."""
    payload = {**extra, "sdp": sdp}
    Message.parse(Message.create(ALICE, "OFFER", BOB.did, payload).to_json()).verify()


@settings(max_examples=60, deadline=None)
@given(
    field=st.sampled_from(["id", "to", "timestamp", "payload", "correlation_id", "type"]),
    data=st.data(),
)
def test_any_change_breaks_signature(field: str, data: st.DataObject) -> None:
    """Changing any signed field of a signed envelope makes verification fail."""
    original = offer(correlation_id="c").to_dict()
    replacements: dict[str, Any] = {
        "id": data.draw(st.text(min_size=1, max_size=20)),
        "to": data.draw(st.sampled_from([ALICE.did, "did:key:z6Mkother"])),
        "timestamp": "2026-01-01T00:00:00.000Z",
        "payload": {"sdp": data.draw(st.text(max_size=20))},
        "correlation_id": data.draw(st.text(min_size=1, max_size=20)),
        "type": "ANSWER",
    }
    tampered = dict(original, **{field: replacements[field]})
    if tampered == original:
        return
    with pytest.raises(InvalidSignatureError):
        Message.parse(json.dumps(tampered)).verify()


def test_shipped_vectors_are_current() -> None:
    """tests/vectors/envelopes.json is what the generator produces."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen", VECTORS / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (VECTORS / "envelopes.json").read_text(encoding="utf-8") == module.render()


def test_shipped_vectors_verify() -> None:
    """Every shipped envelope verifies, and its signing input is its canonical form."""
    doc = json.loads((VECTORS / "envelopes.json").read_text(encoding="utf-8"))
    names = set()
    for case in doc["envelopes"]:
        envelope = case["envelope"]
        message = Message.from_dict(envelope)
        message.verify()
        unsigned = {k: v for k, v in envelope.items() if k != "signature"}
        assert canonicalize(unsigned).decode() == case["signing_input"]
        assert Identity.from_seed(bytes.fromhex(case["signer_seed"])).did == envelope["from"]
        names.add(envelope["type"])
    assert names == {str(t) for t in MessageType}
