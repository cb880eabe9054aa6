"""Checking A2A card signatures made by did:key holders, with a2a-sdk's own verifier.

:func:`did_key_provider` is the small key provider a2a-sdk's ``create_signature_verifier``
needs: the ``kid`` of a signature made by an AIConexus agent is its DID key id
(``did:key:z...#z...``), and the key is read from the DID itself; no key is fetched.
"""

from __future__ import annotations

from collections.abc import Callable

from a2a.types import AgentCard
from a2a.utils.signing import create_signature_verifier
from jwt.api_jwk import PyJWK
from jwt.exceptions import InvalidKeyError

from aiconexus import is_valid_did, public_key_from_did
from aiconexus.protocol.did import b64url_encode

__all__ = ["card_verifier", "did_key_provider"]


def did_key_provider(kid: str | None, jku: str | None) -> PyJWK:
    """The Ed25519 JWK of a did:key ``kid`` (``did:key:z..#z..``); InvalidKeyError otherwise."""
    did = (kid or "").partition("#")[0]
    if not is_valid_did(did):
        raise InvalidKeyError(f"the signature's kid is not a did:key: {kid!r}")
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(public_key_from_did(did))}
    return PyJWK(jwk, algorithm="EdDSA")


def card_verifier(expected_did: str | None = None) -> Callable[[AgentCard], None]:
    """a2a-sdk's verifier of EdDSA card signatures by did:key holders (one DID, if given)."""

    def provider(kid: str | None, jku: str | None) -> PyJWK:
        if expected_did is not None and (kid or "").partition("#")[0] != expected_did:
            raise InvalidKeyError(f"the card is signed by {kid!r}, not by {expected_did}")
        return did_key_provider(kid, jku)

    return create_signature_verifier(provider, ["EdDSA"])
