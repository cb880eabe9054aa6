"""Bearer tokens for the operator endpoints (``/agents``, ``/metrics``).

``require_token(token)`` is a FastAPI dependency: with ``token`` None every request passes;
otherwise a request needs ``Authorization: Bearer <token>`` (compared in constant time) or
is answered ``401`` with ``WWW-Authenticate: Bearer``. Use it as
``@http.get("/agents", dependencies=[Depends(require_token(settings.agents_token))])``.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from fastapi import HTTPException, Request

__all__ = ["require_token", "token_matches"]

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def token_matches(authorization: str | None, token: str) -> bool:
    """True if the ``Authorization`` header value carries exactly ``token`` as a Bearer token."""
    if not authorization:
        return False
    scheme, _, given = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def require_token(token: str | None) -> Callable[[Request], Awaitable[None]]:
    """A dependency that lets a request through only with ``token`` (always, when None)."""

    async def check(request: Request) -> None:
        if token is None:
            return
        authorization = request.headers.get("authorization")
        if not token_matches(authorization, token):
            problem = "a bearer token is required" if not authorization else "wrong bearer token"
            raise HTTPException(status_code=401, detail=problem, headers=_CHALLENGE)

    return check
