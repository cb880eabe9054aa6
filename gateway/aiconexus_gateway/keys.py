"""The gateway's own Ed25519 key: loaded from its key file, or created there once and kept."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from aiconexus.protocol import Identity
from aiconexus_gateway.errors import GatewayError

__all__ = ["KeyFileError", "load_or_create_key"]

logger = logging.getLogger("aiconexus.gateway")


class KeyFileError(GatewayError):
    """The key file exists but cannot be read as a gateway key."""


def load_or_create_key(path: Path) -> Identity:
    """Return the identity stored at ``path``; create it (mode 0600, parent dirs) if missing.

    The DID therefore survives restarts. A key file readable by others is tightened to 0600.
    """
    if path.exists():
        if path.is_dir():
            raise KeyFileError(f"{path} is a directory; GATEWAY_KEY_FILE names the key file")
        if path.stat().st_mode & 0o077:
            try:
                os.chmod(path, 0o600)
            except OSError as exc:
                logger.warning("gateway key file %s is readable by others: %s", path, exc)
            else:
                logger.warning("gateway key file %s was readable by others; now 0600", path)
        try:
            return Identity.load(path)
        except (OSError, ValueError) as exc:
            raise KeyFileError(f"cannot read the gateway key file {path}: {exc}") from None
    identity = Identity.generate()
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        identity.save(path)
    except OSError as exc:
        raise KeyFileError(f"cannot create the gateway key file {path}: {exc}") from None
    logger.info("created a new gateway key in %s (did=%s)", path, identity.did)
    return identity
