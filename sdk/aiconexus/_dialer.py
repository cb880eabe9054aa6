"""Opening a session somewhere: the configured gateway URLs in turn, with backoff between rounds."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Sequence

from websockets.exceptions import InvalidURI
from websockets.uri import parse_uri

from aiconexus._session import Session, SessionOptions, open_session
from aiconexus.errors import GatewayAuthenticationError, GatewayUnreachableError
from aiconexus.protocol import Identity, is_valid_did
from aiconexus.retry import RetryPolicy

__all__ = ["Dialer"]


class Dialer:
    """Opens registered sessions for one identity, failing over between gateway URLs.

    A round tries every URL once, starting with the one that worked last. A failure the
    ``retry_policy`` rejects is raised at once; otherwise the next URL is tried, and after a
    round without success the dialer waits for the next backoff delay and starts another.
    Raises ValueError when ``urls`` is empty or holds something else than a WebSocket URL,
    or when the pinned gateway DID of ``options`` is not an Ed25519 did:key.
    """

    def __init__(
        self,
        urls: Sequence[str],
        identity: Identity,
        options: SessionOptions,
        *,
        retry_policy: RetryPolicy,
        retry_on_start: bool,
        logger: logging.Logger,
    ) -> None:
        if not urls:
            raise ValueError("at least one gateway URL is needed")
        for each in urls:
            try:
                parse_uri(each)
            except InvalidURI as exc:
                raise ValueError(f"not a WebSocket URL: {each!r} ({exc})") from None
        pinned = options.pinned_gateway_did
        if pinned is not None and not is_valid_did(pinned):
            raise ValueError(f"gateway_did is not an Ed25519 did:key: {pinned!r}")
        self.urls = list(urls)
        self._identity = identity
        self.options = options
        self._retry_policy = retry_policy
        self._retry_on_start = retry_on_start
        self._logger = logger
        self._url_index = 0

    async def open(self, delays: Iterator[float], *, first: bool) -> Session:
        """Open the next session; ``first``: the client's first connect (no wait before it).

        On the first connect without ``retry_on_start`` one round is all: when it fails the
        dialer raises :class:`~aiconexus.GatewayAuthenticationError` if a gateway failed
        verification, else :class:`~aiconexus.GatewayUnreachableError` listing every failure.
        """
        failures: list[tuple[str, BaseException]] = []
        while True:
            if not first:
                await asyncio.sleep(next(delays))
            for offset in range(len(self.urls)):
                index = (self._url_index + offset) % len(self.urls)
                url = self.urls[index]
                try:
                    session = await open_session(url, self._identity, self.options, self._logger)
                except Exception as exc:
                    if not self._retry_policy(exc):
                        raise
                    failures.append((url, exc))
                    self._logger.warning("cannot connect to %s: %s", url, exc)
                    continue
                self._url_index = index
                return session
            if first and not self._retry_on_start:
                for _, failure in failures:
                    if isinstance(failure, GatewayAuthenticationError):
                        raise failure
                raise GatewayUnreachableError(failures)
            first = False
            failures.clear()
