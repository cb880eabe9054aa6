"""One session's bounded send queue: the gateway's own frames ahead of agent frames.

Nothing here blocks: :meth:`SendQueue.put` accepts a frame at once or says the queue is at a
bound, and the hub then applies the slow-consumer policy.

Two queues: the gateway's own frames (REGISTERED, ACK, ERROR, PONG) are written ahead of the
frames from other agents, so that a recipient draining a backlog, or waiting for room in its
in-flight window, still gets its PONGs and the ACKs of what it sends.

Bounds: at most ``limit`` (SEND_QUEUE_SIZE) frames, and ``limit_bytes`` (SEND_QUEUE_BYTES)
bytes, from other agents wait for a connection (the stored frames delivered after REGISTERED
are not counted: the store's own bounds hold them); every session's queued and in-flight
agent bytes also count against one :class:`~.budget.ByteBudget` of the node. The gateway's
own frames have a larger allowance of their own (CONTROL_ALLOWANCE_FACTOR).

An idle session holds no deque: each of the two is made by the first frame put into it and
let go once emptied (a deque with its first block costs about 700 bytes, and most sessions
are idle most of the time).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from .budget import ByteBudget
from .outgoing import Kind, Outgoing

__all__ = ["CONTROL_ALLOWANCE_FACTOR", "MAX_BATCH", "SendQueue"]

CONTROL_ALLOWANCE_FACTOR = 4
"""Gateway frames may queue up to this many times ``limit`` (plus the agent frames)."""

MAX_BATCH = 256
"""Most frames written with one socket write."""


class SendQueue:
    """The frames one session is still to write, in the order they are to be written."""

    __slots__ = (
        "_budget",
        "_control",
        "_control_limit",
        "_live",
        "_live_bytes",
        "_queue",
        "limit",
        "limit_bytes",
    )

    def __init__(self, limit: int, limit_bytes: int, budget: ByteBudget) -> None:
        self._queue: deque[Outgoing] | None = None
        """Frames from other agents, in the order they are to be written (None: empty)."""
        self._control: deque[Outgoing] | None = None
        """The gateway's own frames, written ahead of ``_queue`` (None: empty)."""
        self._live = 0
        self._live_bytes = 0
        self.limit = limit
        """Most live agent frames queued (SEND_QUEUE_SIZE); also the reader's pause."""
        self.limit_bytes = limit_bytes
        """Most bytes of live agent frames queued (SEND_QUEUE_BYTES; 0: no bound)."""
        self._budget = budget
        self._control_limit = CONTROL_ALLOWANCE_FACTOR * limit + limit

    @property
    def agent_frames(self) -> int:
        """Frames from other agents waiting to be written."""
        queue = self._queue
        return 0 if queue is None else sum(1 for item in queue if item.kind is not Kind.CONTROL)

    @property
    def pending(self) -> int:
        """Frames waiting to be written (the gateway's own and those from other agents)."""
        queue, control = self._queue, self._control
        return (0 if queue is None else len(queue)) + (0 if control is None else len(control))

    @property
    def answers(self) -> int:
        """The gateway's own frames waiting to be written (what the reader's pause counts)."""
        control = self._control
        return 0 if control is None else len(control)

    @property
    def live_bytes(self) -> int:
        """Bytes of the live frames from other agents waiting to be written."""
        return self._live_bytes

    def put(self, item: Outgoing) -> bool:
        """Queue ``item``; False at a bound (the peer reads too slowly).

        The bounds of a live frame: ``limit`` frames and ``limit_bytes`` bytes queued in this
        session, and the node's :class:`~.budget.ByteBudget`.
        """
        if item.kind is Kind.CONTROL:
            control = self._control
            if control is None:
                self._control = deque((item,))
                return True
            if len(control) + self._live >= self._control_limit:
                return False
            control.append(item)
            return True
        size = len(item.frame)
        if self._live >= self.limit:
            return False
        if self.limit_bytes and self._live and self._live_bytes + size > self.limit_bytes:
            return False
        if not self._budget.take(size):
            return False
        self._live += 1
        self._live_bytes += size
        if self._queue is None:
            self._queue = deque((item,))
        else:
            self._queue.append(item)
        return True

    def put_stored(self, items: list[Outgoing], first: Outgoing | None, *, ahead: bool) -> None:
        """Queue stored frames past the bounds (``first``, e.g. REGISTERED, ahead of all).

        ``ahead``: they go before the live frames already queued (the writer has not started).
        """
        if first is not None:
            if self._control is None:
                self._control = deque()
            self._control.appendleft(first)
        if not items:
            return
        if self._queue is None:
            self._queue = deque(items)
        elif ahead:
            self._queue.extendleft(reversed(items))
        else:
            self._queue.extend(items)

    def held_tokens(self) -> set[str]:
        """Store tokens of the queued frames the backend holds."""
        queue = self._queue or ()
        return {item.held for item in queue if item.held is not None}

    def next_batch(
        self, fitting: Callable[[list[Outgoing]], list[Outgoing]], *, batched: bool
    ) -> tuple[list[Outgoing], list[Outgoing]]:
        """The next frames to write: the gateway's own first, then agent frames.

        Up to MAX_BATCH in all (one frame when the connection cannot batch); of the agent
        frames only those ``fitting`` keeps (the in-flight window's room).
        """
        control = self._control
        answers = (
            [] if control is None else [control[i] for i in range(min(len(control), MAX_BATCH))]
        )
        if not batched and answers:
            return answers[:1], []
        queue = self._queue
        if queue is None:
            return answers, []
        want = min(len(queue), MAX_BATCH - len(answers))
        if not batched:
            want = min(want, 1)
        return answers, fitting([queue[i] for i in range(want)])

    def pop(self, answers: int, agents: int, *, closed: bool) -> None:
        """The first ``answers`` gateway frames and ``agents`` agent frames left the queue.

        Live frames no longer count against the bounds (unless ``closed``: :meth:`release`
        already let go of all of them).
        """
        control = self._control
        if answers and control is not None:
            for _ in range(answers):
                control.popleft()
            if not control:
                self._control = None
        queue = self._queue
        if agents and queue is not None:
            for _ in range(agents):
                item = queue.popleft()
                if item.kind is Kind.LIVE and not closed:
                    size = len(item.frame)
                    self._live -= 1
                    self._live_bytes -= size
                    self._budget.give(size)
            if not queue:
                self._queue = None

    def take_all(self) -> list[Outgoing]:
        """Empty the queue: the agent frames still queued, in order (the gateway's are dropped)."""
        items = [] if self._queue is None else list(self._queue)
        self._queue = self._control = None
        return items

    def release(self) -> None:
        """Closed: the queued live frames no longer count against any bound."""
        self._budget.give(self._live_bytes)
        self._live = self._live_bytes = 0
