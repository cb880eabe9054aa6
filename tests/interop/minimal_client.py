"""A small IoAP v1 client written only from PROTOCOL.md, independent of the aiconexus package.

It uses PyNaCl (Ed25519), the ``websockets`` library and the standard library, and carries its
own base58btc, did:key, base64url and JSON canonicalization (RFC 8785) code, so that agreeing
with the gateway and with the shipped test vectors shows the specification is enough to build
a working client.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import math
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from nacl.signing import SigningKey, VerifyKey
from websockets.asyncio.client import connect as websocket_connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

__all__ = [
    "Keypair",
    "MinimalClient",
    "b58decode",
    "b58encode",
    "b64url_decode",
    "b64url_encode",
    "build_frame",
    "canonical_json",
    "did_from_public_key",
    "now_timestamp",
    "public_key_from_did",
    "verify_frame",
]

SUBPROTOCOL = "ioap.v1"
VERSION = "1.0"
BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
ED25519_PUB_MULTICODEC = bytes([0xED, 0x01])
DID_KEY_PREFIX = "did:key:z"
SAFE_INTEGER = 2**53 - 1


# --- encodings ---------------------------------------------------------------------------------
def b58encode(data: bytes) -> str:
    """Base58btc (Bitcoin alphabet); each leading zero byte becomes a '1'."""
    value = int.from_bytes(data, "big")
    out = ""
    while value > 0:
        value, digit = divmod(value, 58)
        out = BASE58_ALPHABET[digit] + out
    leading_zeros = len(data) - len(data.lstrip(b"\x00"))
    return "1" * leading_zeros + out


def b58decode(text: str) -> bytes:
    """Inverse of :func:`b58encode`; ValueError on a character outside the alphabet."""
    value = 0
    for char in text:
        digit = BASE58_ALPHABET.find(char)
        if digit < 0:
            raise ValueError(f"not base58btc: {char!r}")
        value = value * 58 + digit
    leading_ones = len(text) - len(text.lstrip("1"))
    body = value.to_bytes((value.bit_length() + 7) // 8, "big") if value else b""
    return b"\x00" * leading_ones + body


def b64url_encode(data: bytes) -> str:
    """Base64url without '=' padding."""
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url; ValueError on padding or bad characters."""
    if "=" in text:
        raise ValueError("padding is not allowed")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not base64url: {exc}") from None


def did_from_public_key(public_key: bytes) -> str:
    """``did:key:z`` + base58btc(0xED 0x01 || 32-byte Ed25519 public key)."""
    if len(public_key) != 32:
        raise ValueError("Ed25519 public keys have 32 bytes")
    return DID_KEY_PREFIX + b58encode(ED25519_PUB_MULTICODEC + public_key)


def public_key_from_did(did: str) -> bytes:
    """The public key inside an Ed25519 did:key; ValueError for any other form."""
    if not did.startswith(DID_KEY_PREFIX):
        raise ValueError(f"not a did:key with a base58btc multibase value: {did!r}")
    decoded = b58decode(did[len(DID_KEY_PREFIX) :])
    if len(decoded) != 34 or decoded[:2] != ED25519_PUB_MULTICODEC:
        raise ValueError(f"not an Ed25519 did:key: {did!r}")
    return decoded[2:]


# --- RFC 8785 canonical JSON -------------------------------------------------------------------
def canonical_json(value: Any) -> bytes:
    """RFC 8785 (JCS) canonical UTF-8 bytes of a parsed JSON value."""
    return _canonical(value).encode("utf-8")


def _canonical(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _canonical_string(value)
    if isinstance(value, int | float):
        return _canonical_number(value)
    if isinstance(value, list):
        return "[" + ",".join(_canonical(item) for item in value) + "]"
    if isinstance(value, dict):
        # Keys sorted by their UTF-16 code units; big-endian UTF-16 bytes compare the same way.
        keys = sorted(value, key=lambda key: key.encode("utf-16-be", "surrogatepass"))
        members = (_canonical_string(key) + ":" + _canonical(value[key]) for key in keys)
        return "{" + ",".join(members) + "}"
    raise ValueError(f"not a JSON value: {value!r}")


_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n"}
_SHORT_ESCAPES.update({"\f": "\\f", "\r": "\\r"})


def _canonical_string(text: str) -> str:
    out = ['"']
    for char in text:
        if char in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[char])
        elif ord(char) < 0x20:
            out.append(f"\\u{ord(char):04x}")
        elif 0xD800 <= ord(char) <= 0xDFFF:
            raise ValueError("lone surrogates cannot be encoded in UTF-8")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _canonical_number(number: float) -> str:
    """ECMAScript Number::toString of the double ``number``."""
    if isinstance(number, int):
        if abs(number) > SAFE_INTEGER:
            raise ValueError("integers beyond 2**53-1 are outside this client's subset")
        number = float(number)
    if not math.isfinite(number):
        raise ValueError("NaN and infinities are not JSON")
    if number == 0:
        return "0"
    if number < 0:
        return "-" + _canonical_number(-number)
    # repr() gives the shortest digit string that reads back as the same double.
    _, digit_tuple, exponent = Decimal(repr(number)).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    assert isinstance(exponent, int)
    point = exponent + len("".join(map(str, digit_tuple)))  # value = 0.DIGITS x 10**point
    k = len(digits)
    if k <= point <= 21:
        return digits + "0" * (point - k)
    if 0 < point <= 21:
        return digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return "0." + "0" * -point + digits
    power = point - 1
    mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{mantissa}e{'+' if power >= 0 else '-'}{abs(power)}"


# --- keys and frames ---------------------------------------------------------------------------
class Keypair:
    """An Ed25519 key pair and its did:key."""

    def __init__(self, seed: bytes | None = None) -> None:
        self.signing_key = SigningKey(seed) if seed is not None else SigningKey.generate()
        self.public_key = bytes(self.signing_key.verify_key)
        self.did = did_from_public_key(self.public_key)

    def sign(self, data: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``data``."""
        return bytes(self.signing_key.sign(data).signature)


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate JSON keys")
    return result


def now_timestamp() -> str:
    """The current UTC time as ``YYYY-MM-DDTHH:MM:SS.mmmZ``."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def build_frame(
    keys: Keypair,
    type_: str,
    to: str | None,
    payload: dict[str, Any],
    *,
    correlation_id: str | None = None,
    message_id: str | None = None,
    timestamp: str | None = None,
) -> str:
    """A signed envelope as the text of one frame."""
    envelope: dict[str, Any] = {
        "version": VERSION,
        "id": message_id or str(uuid.uuid4()),
        "type": type_,
        "from": keys.did,
        "to": to,
        "timestamp": timestamp or now_timestamp(),
        "payload": payload,
    }
    if correlation_id is not None:
        envelope["correlation_id"] = correlation_id
    envelope["signature"] = b64url_encode(keys.sign(canonical_json(envelope)))
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))


def verify_frame(frame: str) -> dict[str, Any]:
    """Parse a received frame and check its signature; returns the envelope, ValueError if bad."""
    envelope = json.loads(frame, object_pairs_hook=_reject_duplicates)
    if not isinstance(envelope, dict) or not isinstance(envelope.get("signature"), str):
        raise ValueError("not a signed envelope")
    unsigned = {key: value for key, value in envelope.items() if key != "signature"}
    signature = b64url_decode(envelope["signature"])
    VerifyKey(public_key_from_did(envelope["from"])).verify(canonical_json(unsigned), signature)
    return envelope


# --- the client --------------------------------------------------------------------------------
class MinimalClient:
    """One agent connection: CHALLENGE, REGISTER, then signed frames in and out."""

    def __init__(
        self, keys: Keypair, *, receive_timeout_s: float = 10.0, recipient_acks: bool = False
    ) -> None:
        self.keys = keys
        self.receive_timeout_s = receive_timeout_s
        self.recipient_acks = recipient_acks
        self.gateway_did = ""
        self.public_url: str | None = None
        """The gateway's public base URL, when its CHALLENGE announced one (PROTOCOL.md 6.1)."""
        self.registered: dict[str, Any] = {}
        self._ws: Any = None

    async def connect(
        self,
        url: str,
        capabilities: list[str],
        metadata: dict[str, Any] | None = None,
        capability_info: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Open the WebSocket, answer the CHALLENGE and return the REGISTERED envelope.

        ``capability_info``: per-capability declarations (description, args_schema, examples).
        """
        self._ws = await websocket_connect(
            url, subprotocols=[Subprotocol(SUBPROTOCOL)], compression=None
        )
        if self._ws.subprotocol != SUBPROTOCOL:
            raise ValueError(f"gateway selected subprotocol {self._ws.subprotocol!r}")
        _, challenge = await self.receive()
        if challenge["type"] != "CHALLENGE" or challenge["to"] is not None:
            raise ValueError(f"expected CHALLENGE, got {challenge['type']}")
        self.gateway_did = challenge["from"]
        self.public_url = challenge["payload"].get("public_url")
        payload: dict[str, Any] = {
            "nonce": challenge["payload"]["nonce"],
            "capabilities": capabilities,
            "metadata": metadata or {},
            "public_key": self.keys.did.removeprefix("did:key:"),
        }
        if capability_info:
            payload["capability_info"] = capability_info
        if self.recipient_acks:
            payload["recipient_acks"] = True
        register = await self.send("REGISTER", self.gateway_did, payload)
        _, registered = await self.receive()
        if registered["type"] != "REGISTERED" or registered["from"] != self.gateway_did:
            raise ValueError(f"expected REGISTERED, got {registered}")
        if registered.get("correlation_id") != json.loads(register)["id"]:
            raise ValueError("REGISTERED does not answer our REGISTER")
        self.registered = registered
        if self.recipient_acks and registered["payload"].get("recipient_acks") is not True:
            raise ValueError("the gateway did not confirm recipient_acks")
        return registered

    async def acknowledge(self, ids: list[str]) -> str:
        """Tell the gateway these frames from other agents were taken in (recipient ACK)."""
        return await self.send("ACK", self.gateway_did, {"status": "received", "ids": ids})

    async def send(
        self,
        type_: str,
        to: str | None,
        payload: dict[str, Any],
        *,
        correlation_id: str | None = None,
    ) -> str:
        """Sign and send one frame; returns the exact text sent."""
        frame = build_frame(self.keys, type_, to, payload, correlation_id=correlation_id)
        await self.send_text(frame)
        return frame

    async def send_text(self, frame: str) -> None:
        """Send a frame's text as it is (already signed, or deliberately not)."""
        await self._ws.send(frame)

    async def receive(self) -> tuple[str, dict[str, Any]]:
        """The next frame, as (text received, verified envelope)."""
        frame = await asyncio.wait_for(self._ws.recv(), self.receive_timeout_s)
        if not isinstance(frame, str):
            raise ValueError("the gateway sent a binary frame")
        return frame, verify_frame(frame)

    async def wait_closed(self) -> int | None:
        """Read until the gateway closes the connection; returns the close code."""
        try:
            while True:
                await asyncio.wait_for(self._ws.recv(), self.receive_timeout_s)
        except ConnectionClosed:
            return self.close_code

    async def close(self) -> None:
        """Close the WebSocket."""
        if self._ws is not None:
            await self._ws.close()

    @property
    def close_code(self) -> int | None:
        """The close code the WebSocket ended with, once closed."""
        return None if self._ws is None else self._ws.close_code
