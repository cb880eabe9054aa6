"""Checks shared by the SDK clients that the Docker end-to-end tests run.

Each check prints one ``ok:`` line when it holds and raises :class:`CheckFailed` otherwise.
"""

from __future__ import annotations

from typing import Any

import httpx

__all__ = ["CheckFailed", "check", "http_get"]


class CheckFailed(Exception):
    """A scenario check did not hold."""


def check(condition: bool, what: str) -> None:
    """Print `what` when `condition` holds; raise CheckFailed otherwise."""
    if not condition:
        raise CheckFailed(what)
    print(f"  ok: {what}")


def http_get(base: str, path: str, timeout: float) -> tuple[int, Any]:
    """GET base+path and return the status code and the decoded JSON body."""
    response = httpx.get(base.rstrip("/") + path, timeout=timeout)
    return response.status_code, response.json()
