"""Who calls a bridge: bearer tokens to caller names, and each caller name to its own DID.

``BRIDGE_TOKENS="alice:tok-a...,bob:tok-b..."`` names the callers (parsed and checked by
the gateway's settings); a request carrying
``Authorization: Bearer tok-a...`` is ``alice``. Each name gets a stable Ed25519 identity:
its seed is BLAKE2b keyed by the *bridge secret* (32 random bytes in a 0600 file kept beside
the gateway key, created on first use) over the name. The same secret and name give the
same DID after any restart, so the gateway's per-DID rate limits and the access policy
(``POLICY_FILE``) apply to each caller, and an agent sees who calls in ``message.from``.

With ``BRIDGE_ALLOW_ANONYMOUS=true`` a request without a token is the caller ``anonymous``
(a DID of its own); a request with a wrong token is refused either way.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from aiconexus import Identity

from ..errors import GatewayError

__all__ = [
    "ANONYMOUS",
    "SECRET_BYTES",
    "CallerError",
    "Callers",
    "Refusal",
    "load_or_create_secret",
]

ANONYMOUS = "anonymous"
"""The caller name of requests without a token, where BRIDGE_ALLOW_ANONYMOUS allows them."""

SECRET_BYTES = 32
"""Length of the bridge secret."""

_DERIVATION = b"aiconexus bridge caller v1"


class CallerError(GatewayError, ValueError):
    """The bridge secret file cannot be used; the text says why."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request was not let in: ``missing`` (no token) or ``wrong`` (unknown token)."""

    reason: str

    def __str__(self) -> str:
        return "a bearer token is required" if self.reason == "missing" else "wrong bearer token"


def load_or_create_secret(path: Path) -> bytes:
    """The bridge secret stored at ``path``; created (32 random bytes, mode 0600) if missing."""
    try:
        secret = path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        secret = os.urandom(SECRET_BYTES)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first: use theirs
            return load_or_create_secret(path)
        with os.fdopen(fd, "wb") as file:
            file.write(secret)
        return secret
    if len(secret) != SECRET_BYTES:
        raise CallerError(f"{path}: a bridge secret has {SECRET_BYTES} bytes, not {len(secret)}")
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)
    return secret


@dataclass
class Callers:
    """The callers of a bridge: token lookup (constant time) and one identity per name."""

    tokens: Mapping[str, str]
    secret: bytes
    allow_anonymous: bool = False
    _identities: dict[str, Identity] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) != SECRET_BYTES:
            raise CallerError(f"a bridge secret has {SECRET_BYTES} bytes")
        self._encoded = [(name, token.encode()) for name, token in self.tokens.items()]

    @property
    def protected(self) -> bool:
        """True when a request needs a token (anonymous callers are not allowed)."""
        return not self.allow_anonymous

    def authenticate(self, authorization: str | None) -> str | Refusal:
        """The caller name for an ``Authorization`` header value, or why it is refused.

        Every configured token is compared (in constant time), whichever matches.
        """
        if not authorization or not authorization.strip():
            return ANONYMOUS if self.allow_anonymous else Refusal("missing")
        scheme, _, given = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            return Refusal("wrong")
        candidate = given.strip().encode()
        found: str | None = None
        for name, token in self._encoded:
            if hmac.compare_digest(candidate, token):
                found = name
        return found if found is not None else Refusal("wrong")

    def identity(self, name: str) -> Identity:
        """The stable identity of caller ``name`` (the same for the same secret and name)."""
        identity = self._identities.get(name)
        if identity is None:
            seed = hashlib.blake2b(
                _DERIVATION + b"\0" + name.encode(), key=self.secret, digest_size=32
            ).digest()
            identity = self._identities[name] = Identity.from_seed(seed)
        return identity

    def did(self, name: str) -> str:
        """The DID of caller ``name``."""
        return self.identity(name).did
