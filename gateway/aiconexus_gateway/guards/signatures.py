"""Ed25519 work of the hot path: verify incoming frames (inline or in batches), sign ACKs.

Two ways to verify, chosen once per process (``GATEWAY_CRYPTO_THREADS``):

- **inline** (0): each frame's signature is checked on the event loop, one PyNaCl call;
- **batched** (N >= 1): every signature submitted in one loop turn goes to a pool of N
  threads as one batch (:class:`~.batch_verify.PerTurnVerifier`); with the native verifier
  (the optional ``aiconexus-native`` distribution) the GIL is released for the whole batch,
  so the other cores verify while the loop keeps parsing and routing. Verdicts come back in
  the order the frames were submitted, and equal the inline ones. A turn of at most
  INLINE_MAX signatures while the threads are idle (light load) is verified on the loop.

Unset, the gateway batches on one thread per core when the process may run on two cores or
more and the native verifier is installed, and verifies inline otherwise (one core, or
PyNaCl only: handing single PyNaCl verifications to threads measured slower than inline,
each hand-over costing more loop and GIL time than it saved).

ACKs are signed inline in both modes: the gateway signs one ACK per sender and loop turn
(coalesced), a few microseconds each, so a hand-over would cost more than it saves.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiconexus.protocol.ed25519 import verify_ed25519

from .batch_verify import AsyncBatchVerifier, BatchVerifier, PerTurnVerifier

__all__ = ["CryptoPool", "default_threads", "verify_signature"]

logger = logging.getLogger("aiconexus.gateway")

Done = Callable[[Any, BaseException | None], None]

INLINE_MAX = 2
"""A loop turn with at most this many signatures while the threads are idle verifies them on
the loop: at light load a hand-over costs the loop more than it saves, and adds latency."""


def default_threads() -> int:
    """Verifying threads when GATEWAY_CRYPTO_THREADS is not set: none (inline).

    Measured with ``make bench`` on a quiet 2-core machine, batches on threads made the
    gateway slower (verified frames/s 0.53 of one core's verify rate, against 0.57 inline; CPU
    per frame 117 us against 83 us): the loop's hand-over per frame (a task and a future) costs
    about what the verification it moves off the loop saves, and the second core is shared
    with the load generator. Set GATEWAY_CRYPTO_THREADS=N (one per idle core) to batch.
    """
    return 0


verify_signature = verify_ed25519
"""True if ``signature`` is a valid Ed25519 signature of ``message`` under the key: the
protocol core's :func:`~aiconexus.protocol.ed25519.verify_ed25519`, so that the gateway and
the SDK give the same verdict on every signature."""


class CryptoPool:
    """Verifies inline (``threads`` 0) or in per-turn batches on ``threads`` threads; signs.

    Call :meth:`start` inside the running loop before :meth:`verify`, :meth:`stop` at the end.
    """

    def __init__(self, threads: int, signer: Callable[[bytes], bytes]) -> None:
        if threads < 0:
            raise ValueError("threads must be 0 (inline) or more")
        self.threads = threads
        self._signer = signer
        self._pool: AsyncBatchVerifier | None = None
        self._batches: PerTurnVerifier | None = None

    @property
    def inline(self) -> bool:
        """True when signatures are verified on the calling thread (no worker threads)."""
        return self._batches is None

    @property
    def backend(self) -> str:
        """What verifies: ``"inline"``, or ``"native"`` / ``"pynacl"`` batches on threads."""
        return "inline" if self._pool is None else self._pool.backend

    def describe(self) -> dict[str, Any]:
        """The verifier in use, for /health and the start-up log line."""
        batches = self._batches
        return {
            "verifier": self.backend,
            "threads": self.threads if batches is not None else 0,
            "batches": batches.batches if batches is not None else 0,
            "batched_items": batches.items if batches is not None else 0,
            "inline_items": batches.inline_items if batches is not None else 0,
        }

    def sign(self, data: bytes, done: Done) -> None:
        """Sign ``data`` with the gateway key; ``done(signature, error)`` is called at once."""
        try:
            signature = self._signer(data)
        except Exception as exc:
            done(None, exc)
        else:
            done(signature, None)

    async def start(self) -> None:
        """Start the worker threads (when ``threads`` > 0), bound to the running loop."""
        if self.threads and self._pool is None:
            self._pool = AsyncBatchVerifier(BatchVerifier(), workers=self.threads)
            self._batches = PerTurnVerifier(self._pool, inline_max=INLINE_MAX)
        if self.threads:
            logger.info(
                "signatures verified in batches on %d thread(s) (%s)", self.threads, self.backend
            )
        else:
            logger.info("signatures verified inline on the event loop (PyNaCl)")

    def stop(self) -> None:
        """Let the worker threads finish the batches already handed over."""
        pool, self._pool, self._batches = self._pool, None, None
        if pool is not None:
            pool.close()

    def verify_now(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        """The verdict, computed on the calling thread."""
        return verify_signature(public_key, message, signature)

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> asyncio.Future[bool]:
        """A future of the verdict: this turn's batch when batched, else already done.

        Futures of one pool resolve in the order this method was called.
        """
        batches = self._batches
        if batches is not None and len(message) <= batches.pool.verifier.max_message_bytes:
            return batches.submit(public_key, message, signature)
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        future.set_result(verify_signature(public_key, message, signature))
        return future
