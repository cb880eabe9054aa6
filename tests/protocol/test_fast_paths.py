"""The hot path's shortcuts: signing bytes cut out of a frame, and timestamps read per second."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiconexus.protocol import (
    Identity,
    MalformedMessageError,
    Message,
    canonicalize,
    epoch_seconds,
    parse_envelope,
    parse_timestamp,
)
from aiconexus.protocol.jcs import canonicalize_reference, orjson_is_jcs
from aiconexus.protocol.wire import signed_frame

_json: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from([',"signature":"abc"', '"signature":', "\u00e9\u20ac\U0001f600"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(max_size=6) | st.sampled_from(["signature", "timestamp", "\u00e9"]),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)
_signature = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", max_size=90
) | st.text(max_size=8)


def _envelope(payload: dict[str, Any], signature: str, **extra: Any) -> dict[str, Any]:
    return {
        "version": "1.0",
        "id": "m-1",
        "type": "INTENT",
        "from": "did:key:z6MkSender",
        "to": "did:key:z6MkRecipient",
        "timestamp": "2026-11-27T10:00:00.000Z",
        "payload": payload,
        "signature": signature,
        **extra,
    }


@settings(max_examples=300, deadline=None)
@given(
    payload=st.dictionaries(st.text(max_size=8), _json, max_size=5),
    signature=_signature,
    correlation=st.none() | st.text(min_size=1, max_size=8),
)
def test_cut_signing_bytes_equal_reference(
    payload: dict[str, Any], signature: str, correlation: str | None
) -> None:
    """Canonical, sorted or insertion-ordered frames all give the reference JCS bytes."""
    extra = {} if correlation is None else {"correlation_id": correlation}
    envelope = _envelope(payload, signature, **extra)
    unsigned = {k: v for k, v in envelope.items() if k != "signature"}
    expected = canonicalize_reference(unsigned)
    frames = {canonicalize(envelope), orjson.dumps(envelope)}
    if orjson_is_jcs(envelope):
        frames.add(orjson.dumps(envelope, option=orjson.OPT_SORT_KEYS))
    for frame in frames:
        assert parse_envelope(frame.decode()).signing_bytes() == expected


@settings(max_examples=300, deadline=None)
@given(value=_json)
def test_orjson_is_jcs_only_when_bytes_agree(value: Any) -> None:
    """When orjson_is_jcs says so, orjson's sorted output is the reference JCS output."""
    if orjson_is_jcs(value):
        assert orjson.dumps(value, option=orjson.OPT_SORT_KEYS) == canonicalize_reference(value)


def test_orjson_is_jcs_refuses_what_orjson_writes_differently() -> None:
    """Whole and tiny floats, integers beyond 2**53 and non-ASCII keys take the reference path."""
    assert orjson_is_jcs({"a": ["x", 1, None, True, {"b": -(2**53) + 1}]})
    assert not orjson_is_jcs({"a": 1.0})
    assert not orjson_is_jcs({"a": 1e-6})
    assert not orjson_is_jcs([float("nan")])
    assert not orjson_is_jcs([float("-inf")])
    assert not orjson_is_jcs([2**53])
    assert not orjson_is_jcs({"\u00e9": "x"})
    assert not orjson_is_jcs({"a": ("tuple",)})


def test_orjson_is_jcs_takes_timing_floats() -> None:
    """Floats such as an ``execution_time_ms`` take the fast path, written as RFC 8785 does."""
    value = {"execution_time_ms": 0.123456, "share": -2.5, "tiny": 1e-5, "big": 4503599627370495.5}
    assert orjson_is_jcs(value)
    assert canonicalize(value) == canonicalize_reference(value)


@settings(max_examples=500, deadline=None)
@given(
    value=st.floats(allow_nan=False, allow_infinity=False)
    | st.floats(min_value=1e-6, max_value=1e-4)
    | st.floats(min_value=1e15, max_value=1e17)
)
def test_fast_floats_are_reference_floats(value: float) -> None:
    """Every float the fast path takes is written byte for byte as the reference path does."""
    if orjson_is_jcs(value):
        assert orjson.dumps(value) == canonicalize_reference(value)


_base64url = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", max_size=90
)


@settings(max_examples=300, deadline=None)
@given(
    payload=st.dictionaries(st.text(max_size=8), _json, max_size=5),
    signature=_base64url,
    correlation=st.none() | st.text(min_size=1, max_size=8),
    timestamp=st.text(max_size=30),
)
def test_signed_frame_is_the_canonical_envelope(
    payload: dict[str, Any], signature: str, correlation: str | None, timestamp: str
) -> None:
    """The signature put into the unsigned canonical bytes gives the whole canonical frame."""
    extra = {} if correlation is None else {"correlation_id": correlation}
    envelope = {**_envelope(payload, signature, **extra), "timestamp": timestamp}
    unsigned = {k: v for k, v in envelope.items() if k != "signature"}
    try:
        expected = canonicalize(envelope)
    except ValueError:  # a lone surrogate: no frame at all
        return
    assert signed_frame(canonicalize(unsigned), signature) == expected.decode()


def test_created_frames_are_canonical() -> None:
    """Message.create's frame text is the canonical JSON of its envelope, nested timestamps too."""
    alice = Identity.generate()
    payload = {"query": "q", "context": {"timestamp": "x", "n": [{"timestamp": "y"}]}}
    message = Message.create(alice, "INTENT", alice.did, payload, correlation_id="c")
    assert message.to_json() == canonicalize(message.to_dict()).decode()
    with pytest.raises(ValueError):
        signed_frame(b'{"a":1}', "sig")


def test_sdk_frames_take_the_cut() -> None:
    """A frame from Message.to_json is cut, and the cut is what Message.verify checks."""
    alice = Identity.generate()
    message = Message.create(alice, "INTENT", alice.did, {"query": 'a ,"signature":"x" b'})
    envelope = parse_envelope(message.to_json())
    assert envelope._sorted is not None
    assert envelope.signing_bytes() == message.signing_bytes()


@settings(max_examples=200, deadline=None)
@given(
    moment=st.datetimes(
        min_value=datetime(1970, 1, 2), max_value=datetime(9998, 12, 31), timezones=st.just(UTC)
    ),
    digits=st.integers(0, 9),
)
def test_epoch_seconds_equal_parse_timestamp(moment: datetime, digits: int) -> None:
    """epoch_seconds gives parse_timestamp's instant, whatever the fraction's length."""
    fraction = f"{moment.microsecond:06d}{moment.microsecond % 1000:03d}"[:digits]
    text = moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if digits else "") + "Z"
    assert abs(epoch_seconds(text) - parse_timestamp(text).timestamp()) < 1e-6
    assert abs(epoch_seconds(text) - parse_timestamp(text).timestamp()) < 1e-6  # cached


@pytest.mark.parametrize("text", ["2026-02-30T10:00:00Z", "2026-11-27 10:00:00Z", "", "x"])
def test_epoch_seconds_refuses_what_parse_timestamp_refuses(text: str) -> None:
    """Bad shapes and impossible dates are MalformedMessageError, as from parse_timestamp."""
    with pytest.raises(MalformedMessageError):
        epoch_seconds(text)
