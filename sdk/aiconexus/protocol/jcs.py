"""RFC 8785 JSON Canonicalization Scheme (JCS): the bytes every signature covers.

Differences from ``json.dumps(sort_keys=True)`` that matter: object keys are ordered by their
UTF-16 code units, numbers are written as ECMAScript writes them (``1e+21``, ``1e-7``, ``4.5``,
never ``1.0``), and only the escapes JSON requires are used. Integers beyond 2**53 are written as
the nearest double (as every JSON parser reads them); NaN, infinities, integers beyond the double
range and lone surrogates are refused with ``ValueError``.

Values made only of strings, safe integers, booleans, null, floats that are not whole numbers
with a magnitude in [1e-5, 1e16), lists and objects with ASCII keys (nearly every envelope,
timings such as ``execution_time_ms`` included) are serialized by orjson with sorted keys,
which is byte-identical to RFC 8785 for exactly those values (both write the shortest
round-trip digits, in plain notation in that range); everything else takes the reference
path below. The test suite checks both paths against the published vectors and against each
other.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

__all__ = [
    "MAX_SAFE_INTEGER",
    "ORJSON_FLOAT_RANGE",
    "canonicalize",
    "canonicalize_reference",
    "format_number",
    "orjson_is_jcs",
]

MAX_SAFE_INTEGER = 2**53 - 1
"""Largest integer every JSON implementation represents exactly (I-JSON, RFC 7493)."""

ORJSON_FLOAT_RANGE = (1e-5, 1e16)
"""Magnitudes of the floats (not whole numbers) that orjson writes as RFC 8785 does: below
it orjson switches to exponent notation sooner than ECMAScript (``1e-6`` vs ``0.000001``);
from 2**53 on every double is whole, and orjson writes ``1.0`` where RFC 8785 writes ``1``."""
_FLOAT_LOW, _FLOAT_HIGH = ORJSON_FLOAT_RANGE

# Escapes exactly '"', '\\' and the control characters, as RFC 8785 requires.
_encode_string = json.encoder.encode_basestring


def canonicalize(value: Any) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of a JSON-compatible value."""
    if orjson_is_jcs(value):
        try:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:
            pass  # a lone surrogate: the reference path says what is wrong
    return canonicalize_reference(value)


def canonicalize_reference(value: Any) -> bytes:
    """RFC 8785 bytes by the reference algorithm (what :func:`canonicalize` falls back to)."""
    parts: list[str] = []
    _write(value, parts)
    try:
        return "".join(parts).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("strings must not contain lone surrogates") from exc


def orjson_is_jcs(value: Any) -> bool:
    """True if orjson's sorted-key output of ``value`` is byte-identical to RFC 8785.

    That holds for strings, safe integers, booleans, null, floats that are not whole numbers
    within :data:`ORJSON_FLOAT_RANGE` in magnitude, and lists and objects of them with ASCII
    keys (a string with a lone surrogate makes orjson fail instead). Iterative: one
    pass over the values, strings checked inline; a list of strings (an ACK's ids) is checked
    by its members' types at C speed.
    """
    pending = [value]
    pop = pending.pop
    push = pending.append
    while pending:
        item = pop()
        kind = type(item)
        if kind is str or item is None or kind is bool:
            continue
        if kind is dict:
            for key, member in item.items():
                if type(key) is not str or not key.isascii():
                    return False
                if type(member) is not str:
                    push(member)
        elif kind is list:
            if len(item) > 8 and set(map(type, item)) == _STR:
                continue
            pending.extend(item)
        elif kind is int:
            if not -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
                return False
        elif kind is float:  # NaN and infinities fail the range test
            if not _FLOAT_LOW <= abs(item) < _FLOAT_HIGH or item.is_integer():
                return False
        else:
            return False
    return True


_STR = {str}


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def _write(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(_encode_string(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            out.append(str(value))
        else:
            out.append(_large_integer(value))
    elif isinstance(value, float):
        out.append(format_number(value))
    elif isinstance(value, Mapping):
        out.append("{")
        keys = list(value)
        for key in keys:
            if not isinstance(key, str):
                raise ValueError(f"object keys must be strings, got {type(key).__name__}")
        keys.sort(key=_utf16_key)
        first = True
        for key in keys:
            if not first:
                out.append(",")
            first = False
            out.append(_encode_string(key))
            out.append(":")
            _write(value[key], out)
        out.append("}")
    elif isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise ValueError(f"not a JSON value: {type(value).__name__}")


def _large_integer(value: int) -> str:
    # JSON numbers are IEEE doubles (RFC 8785 section 3.2.2.3): a JSON parser reads an integer
    # beyond 2**53 as the nearest double, so that double's text is its canonical form.
    try:
        return format_number(float(value))
    except OverflowError:
        raise ValueError(f"integer {value} is beyond the range of JSON numbers") from None


def format_number(value: float) -> str:
    """Format a finite double as ECMAScript's Number.prototype.toString does."""
    if math.isnan(value) or math.isinf(value):
        raise ValueError("NaN and infinities are not JSON numbers")
    if value == 0:
        return "0"
    if value < 0:
        return "-" + format_number(-value)
    mantissa, _, exp_text = repr(value).partition("e")
    exponent = int(exp_text) if exp_text else 0
    int_part, _, frac_part = mantissa.partition(".")
    digits = int_part + frac_part
    point = len(int_part) + exponent  # value = 0.<digits> * 10**point
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0") or "0"
    k, n = len(digits), point
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    e = n - 1
    sign = "+" if e >= 0 else "-"
    head = digits[0] if k == 1 else digits[0] + "." + digits[1:]
    return f"{head}e{sign}{abs(e)}"
