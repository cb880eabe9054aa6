"""Ed25519 identities: key pairs with their did:key, stored as JWK files readable only by you."""

from __future__ import annotations

import json
import logging
import os
import stat
import tempfile
from pathlib import Path

from nacl.bindings import crypto_scalarmult, crypto_sign, crypto_sign_ed25519_sk_to_curve25519
from nacl.signing import SigningKey

from .did import b64url_decode, b64url_encode, did_from_public_key

__all__ = ["Identity"]

logger = logging.getLogger("aiconexus.identity")


class Identity:
    """An Ed25519 key pair and its did:key. Create with generate(), from_seed() or load()."""

    __slots__ = ("_agreement_key", "_did", "_key_file", "_secret", "_signing_key")

    def __init__(self, signing_key: SigningKey) -> None:
        self._signing_key = signing_key
        self._secret = bytes(signing_key) + bytes(signing_key.verify_key)
        """libsodium's 64-byte secret key (seed and public key), for signing without wrappers."""
        self._did = did_from_public_key(bytes(signing_key.verify_key))
        self._agreement_key: bytes | None = None
        self._key_file: Path | None = None

    @property
    def key_file(self) -> Path | None:
        """The file :meth:`load` read this identity from (None for other identities)."""
        return self._key_file

    @classmethod
    def generate(cls) -> Identity:
        """A new random identity."""
        return cls(SigningKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> Identity:
        """The identity of a 32-byte Ed25519 seed (the private key)."""
        if len(seed) != 32:
            raise ValueError("an Ed25519 seed has 32 bytes")
        return cls(SigningKey(bytes(seed)))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Identity:
        """Read a key file written by :meth:`save` (an Ed25519 OKP JWK).

        Logs a warning on the ``aiconexus.identity`` logger when the file is readable or
        writable by users other than its owner.
        """
        try:
            jwk = json.loads(Path(path).read_text(encoding="utf-8"))
            if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
                raise ValueError("not an Ed25519 OKP key")
            identity = cls.from_seed(b64url_decode(jwk["d"]))
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ValueError(f"{path}: not an AIConexus key file ({exc})") from None
        if "x" in jwk and b64url_decode(jwk["x"]) != identity.public_key:
            raise ValueError(f"{path}: public key does not match the private key")
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if os.name == "posix" and mode & 0o077:
            logger.warning(
                "key file %s is readable by other users (mode %04o); run: chmod 600 %s",
                path,
                mode,
                path,
            )
        identity._key_file = Path(path)
        return identity

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the key to ``path`` atomically, readable and writable only by the owner (0600)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        jwk = {
            "kty": "OKP",
            "crv": "Ed25519",
            "d": b64url_encode(bytes(self._signing_key)),
            "x": b64url_encode(self.public_key),
            "kid": self._did,
        }
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".key-")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(jwk, handle, indent=2)
                handle.write("\n")
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @property
    def did(self) -> str:
        """The did:key of this identity."""
        return self._did

    @property
    def public_key(self) -> bytes:
        """The 32-byte Ed25519 public key."""
        return bytes(self._signing_key.verify_key)

    def sign(self, data: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``data``."""
        return crypto_sign(data, self._secret)[:64]

    def key_agreement(self, public_key: bytes) -> bytes:
        """The X25519 shared secret of this identity's key-agreement key and ``public_key``.

        The key-agreement (X25519) secret is derived from the Ed25519 key as the did:key
        method does (``crypto_sign_ed25519_sk_to_curve25519``) and never leaves this object.
        ValueError when ``public_key`` is not 32 bytes or gives the all-zero secret.
        """
        if len(public_key) != 32:
            raise ValueError("an X25519 public key has 32 bytes")
        if self._agreement_key is None:
            secret = bytes(self._signing_key) + self.public_key
            self._agreement_key = crypto_sign_ed25519_sk_to_curve25519(secret)
        try:
            return crypto_scalarmult(self._agreement_key, public_key)
        except RuntimeError:
            raise ValueError("the public key gives no shared secret (low order)") from None

    def __repr__(self) -> str:
        return f"Identity({self._did})"
