"""RFC 8785 canonicalization against the scheme's published test data and its own examples."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiconexus.protocol import canonicalize
from aiconexus.protocol.jcs import canonicalize_reference, format_number

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "vectors" / "jcs"
LOCAL = Path(__file__).resolve().parents[1] / "vectors" / "jcs"
VECTORS = SHARED if SHARED.is_dir() else LOCAL
NAMES = sorted(p.name for p in (VECTORS / "input").iterdir())


def test_vectors_present() -> None:
    """The published JCS vectors are all here (six files)."""
    assert len(NAMES) == 6


@pytest.mark.parametrize("name", NAMES)
def test_reference_vectors(name: str) -> None:
    """Each reference input canonicalizes to the reference output, byte for byte."""
    data = json.loads((VECTORS / "input" / name).read_text(encoding="utf-8"))
    assert canonicalize(data) == (VECTORS / "output" / name).read_bytes()


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0"),
        (-0.0, "0"),
        (1.0, "1"),
        (4.5, "4.5"),
        (0.002, "0.002"),
        (0.000001, "0.000001"),
        (1e-7, "1e-7"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (123456789012345680000.0, "123456789012345680000"),
        (333333333.3333333, "333333333.3333333"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (-1.5e-9, "-1.5e-9"),
    ],
)
def test_number_formatting_examples(value: float, text: str) -> None:
    """Numbers print as ECMAScript prints them (RFC 8785 section 3.2.2.3 examples)."""
    assert format_number(value) == text


def test_large_integers_print_as_doubles() -> None:
    """Integers beyond 2**53 that are exact doubles print as ECMAScript prints the double."""
    assert canonicalize(2**53) == b"9007199254740992"
    assert canonicalize(2**70) == b"1.1805916207174113e+21"
    assert canonicalize(2**53 + 1) == b"9007199254740992"  # read as the nearest double


def test_rfc_example_object() -> None:
    """The RFC 8785 section 3.2.3 sorting example: keys ordered by UTF-16 code units."""
    data = {"\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh",
            "1": "One", "\U0001f600": "Emoji: Grinning Face", "\u0080": "Control",
            "\u00f6": "Latin Small Letter O With Diaeresis"}  # fmt: skip
    keys = list(json.loads(canonicalize(data)))
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


@pytest.mark.parametrize(
    "bad",
    [
        math.nan,
        math.inf,
        -math.inf,
        -(10**400),
        10**400,
        "\ud800",
        {1: "x"},
        b"x",
        object(),
    ],
)
def test_rejects_non_ijson(bad: object) -> None:
    """Values outside I-JSON are refused rather than canonicalized ambiguously."""
    with pytest.raises(ValueError):
        canonicalize({"v": bad})


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_canonical_form_round_trips(value: object) -> None:
    """Canonical bytes parse back to an equal value and are a fixed point."""
    once = canonicalize(value)
    assert canonicalize(json.loads(once)) == once


@given(json_values)
def test_fast_path_matches_reference(value: object) -> None:
    """The orjson fast path and the reference algorithm agree on every value."""
    assert canonicalize(value) == canonicalize_reference(value)


@pytest.mark.parametrize("name", NAMES)
def test_reference_path_vectors(name: str) -> None:
    """The reference algorithm alone also reproduces every published vector."""
    data = json.loads((VECTORS / "input" / name).read_text(encoding="utf-8"))
    assert canonicalize_reference(data) == (VECTORS / "output" / name).read_bytes()


@given(st.dictionaries(st.text(alphabet=st.characters(max_codepoint=127)), st.text()))
def test_fast_path_control_characters(value: dict[str, str]) -> None:
    """Strings with control characters and escapes are written identically by both paths."""
    assert canonicalize(value) == canonicalize_reference(value)
