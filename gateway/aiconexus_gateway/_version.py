"""The installed version of the gateway package (light: no web framework imported)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["gateway_version"]


def gateway_version() -> str:
    """The installed version of the gateway package."""
    try:
        return version("aiconexus-gateway")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0"
