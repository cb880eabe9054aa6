"""Numbered streams between SDK clients, and the strict check the crash tests make of them.

A :class:`Stream` sends 0, 1, 2... from one client to one DID with a few frames awaiting
their ACK at a time and records each frame's ACK status; an :class:`Inbox` records, per
sender, the numbers its client's user code received. :func:`check_stream` then asserts the
guarantee: every frame ACKed with a status in ``required`` reached user code, exactly once,
and the frames of one sender arrived in the order they were sent.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

from aiconexus import GatewayClient, IoapError, MessageType

__all__ = ["Inbox", "Stream", "check_stream", "wait_until"]


class Stream:
    """Numbered INTENT frames from ``client`` to ``to`` until :meth:`stop`."""

    def __init__(
        self, client: GatewayClient, to: str, *, window: int = 8, timeout: float | None = None
    ) -> None:
        self.client = client
        self.to = to
        self.window = window
        self.timeout = timeout
        """Each send's own timeout (a send that times out is recorded as failed)."""
        self.longest = 0.0
        """The longest a send waited for its answer, in seconds."""
        self.statuses: dict[int, str] = {}
        self.failed: dict[int, str] = {}
        self.sent = 0
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    @property
    def acked(self) -> int:
        """How many frames got an ACK so far."""
        return len(self.statuses)

    def start(self) -> None:
        """Begin sending in the background."""
        self._task = asyncio.create_task(self._run())

    async def stop(self, within: float = 60.0) -> None:
        """Send no more; wait until every frame sent got its ACK or ERROR."""
        self._stopping = True
        assert self._task is not None
        await asyncio.wait_for(self._task, within)

    async def _run(self) -> None:
        window = asyncio.Semaphore(self.window)
        tasks: list[asyncio.Task[None]] = []

        async def one(n: int) -> None:
            started = time.monotonic()
            try:
                status = await self.client.send(
                    self.to, MessageType.INTENT, {"params": {"n": n}}, timeout=self.timeout
                )
                self.statuses[n] = status
            except IoapError as exc:  # e.g. UNKNOWN_AGENT, QUEUE_FULL
                self.failed[n] = str(exc.code)
            except TimeoutError:
                self.failed[n] = "timeout"
            finally:
                self.longest = max(self.longest, time.monotonic() - started)
                window.release()

        while not self._stopping:
            await window.acquire()
            if self._stopping:
                break
            tasks.append(asyncio.create_task(one(self.sent)))
            self.sent += 1
        await asyncio.gather(*tasks)


class Inbox:
    """The numbers each sender's frames carried, in the order user code received them."""

    def __init__(self, client: GatewayClient) -> None:
        self.by_sender: defaultdict[str, list[int]] = defaultdict(list)
        self._task = asyncio.create_task(self._collect(client))

    async def _collect(self, client: GatewayClient) -> None:
        async for message in client:
            if message.type == MessageType.INTENT:
                self.by_sender[message.from_].append(message.payload["params"]["n"])

    def stop(self) -> None:
        """Stop collecting."""
        self._task.cancel()


def missing(stream: Stream, received: list[int], required: frozenset[str]) -> set[int]:
    """Frames ACKed with a status in ``required`` that did not arrive (yet)."""
    wanted = {n for n, status in stream.statuses.items() if status in required}
    return wanted - set(received)


def check_stream(stream: Stream, received: list[int], required: frozenset[str]) -> None:
    """Exactly once, in per-sender order, and nothing ACKed with a ``required`` status lost."""
    duplicates = sorted({n for n in received if received.count(n) > 1})
    assert not duplicates, f"reached user code twice: {duplicates[:20]}"
    assert received == sorted(received), "frames of one sender arrived out of order"
    lost = sorted(missing(stream, received, required))
    assert not lost, f"ACKed {sorted(required)} but never received: {lost[:20]}"
    assert stream.sent == len(stream.statuses) + len(stream.failed), "a send never ended"


async def wait_until(condition: object, within: float, what: str) -> None:
    """Poll the callable ``condition`` every 20 ms; AssertionError naming ``what`` on timeout."""
    assert callable(condition)
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within}s: {what}")
        await asyncio.sleep(0.02)
