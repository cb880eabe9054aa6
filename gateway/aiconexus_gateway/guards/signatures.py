"""Ed25519 work of the hot path (verify incoming frames, sign ACKs), inline or on threads.

PyNaCl releases the GIL inside libsodium, so worker threads can verify and sign on other
cores while the event loop parses and writes frames. Jobs are handed over through one queue
and results come back in batches (one loop wake-up per batch).

Measured on the 2-core machines this project is built on, with the load generator on the
same machine, threads made things worse (about +70 us of CPU per message with 1 or 2
threads, whatever the GIL switch interval: each frame's verification costs thread and loop
wake-ups, and the threads and the event loop keep handing the GIL to each other), so the
default is inline (``GATEWAY_CRYPTO_THREADS=0``); try 1-4 on a machine with idle cores.
A helper process fed in batches over a pipe (no GIL) was tried as well: the event loop saved
about 50 us of the ~100 us of crypto per message, but the hand-over and the extra loop
wake-ups cost as much, and throughput fell.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from aiconexus.protocol.ed25519 import verify_ed25519

__all__ = ["CryptoPool", "default_threads", "verify_signature"]

logger = logging.getLogger("aiconexus.gateway")

Done = Callable[[Any, BaseException | None], None]
_BATCH = 256


def default_threads() -> int:
    """Worker threads when GATEWAY_CRYPTO_THREADS is not set: none (inline)."""
    return 0


verify_signature = verify_ed25519
"""True if ``signature`` is a valid Ed25519 signature of ``message`` under the key: the
protocol core's :func:`~aiconexus.protocol.ed25519.verify_ed25519`, so that the gateway and
the SDK give the same verdict on every signature."""


class CryptoPool:
    """Runs verify/sign jobs on ``threads`` threads (or inline when ``threads`` is 0)."""

    def __init__(self, threads: int, signer: Callable[[bytes], bytes]) -> None:
        self.threads = threads
        self._signer = signer
        self._jobs: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...], Done] | None]
        self._jobs = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def inline(self) -> bool:
        """True when jobs run on the calling thread (no worker threads)."""
        return not self._workers

    def sign(self, data: bytes, done: Done) -> None:
        """Sign ``data`` with the gateway key; ``done(signature, error)`` on the loop thread."""
        self.submit(self._signer, (data,), done)

    async def start(self) -> None:
        """Start the worker threads, bound to the running loop."""
        self._loop = asyncio.get_running_loop()
        for index in range(self.threads):
            worker = threading.Thread(target=self._work, name=f"crypto-{index}", daemon=True)
            worker.start()
            self._workers.append(worker)

    def stop(self) -> None:
        """Let the worker threads finish."""
        for _ in self._workers:
            self._jobs.put(None)
        self._workers.clear()

    def submit(self, function: Callable[..., Any], args: tuple[Any, ...], done: Done) -> None:
        """Run ``function(*args)`` and call ``done(result, error)`` on the loop thread."""
        if not self._workers:
            try:
                result = function(*args)
            except Exception as exc:
                done(None, exc)
            else:
                done(result, None)
            return
        self._jobs.put((function, args, done))

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> asyncio.Future[bool]:
        """A future that is True if ``signature`` of ``message`` verifies under the key."""
        assert self._loop is not None
        future: asyncio.Future[bool] = self._loop.create_future()

        def done(result: Any, error: BaseException | None) -> None:
            if future.cancelled():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(bool(result))

        self.submit(verify_signature, (public_key, message, signature), done)
        return future

    def _work(self) -> None:
        jobs = self._jobs
        loop = self._loop
        assert loop is not None
        while True:
            job = jobs.get()
            batch = [job]
            while len(batch) < _BATCH:
                try:
                    batch.append(jobs.get_nowait())
                except queue.Empty:
                    break
            results: list[tuple[Done, Any, BaseException | None]] = []
            stop = False
            for item in batch:
                if item is None:
                    stop = True
                    continue
                function, args, done = item
                try:
                    results.append((done, function(*args), None))
                except Exception as exc:
                    results.append((done, None, exc))
            if results:
                try:
                    loop.call_soon_threadsafe(_deliver, results)
                except RuntimeError:  # the loop is closed: shutting down
                    return
            if stop:
                return


def _deliver(results: list[tuple[Done, Any, BaseException | None]]) -> None:
    for done, value, error in results:
        try:
            done(value, error)
        except Exception:
            logger.exception("crypto result handler failed")
