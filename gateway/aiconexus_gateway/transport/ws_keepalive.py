"""WebSocket keepalive: a ping every interval, and a deadline for its pong.

Used by :mod:`.ws_protocol` once a connection is accepted (``ws_ping_interval`` and
``ws_ping_timeout`` of uvicorn's configuration, set from HEARTBEAT_INTERVAL and
AGENT_TIMEOUT). One timer per connection: it waits either for the next ping or for the
pong of the ping in flight. The next ping follows a pong after the interval less the round
trip, so a peer is pinged about once per interval. A pong that does not come in time fails
the connection with 1011 and closes the transport.
"""

from __future__ import annotations

import asyncio
import random
import struct
from collections.abc import Callable

from websockets.protocol import State
from websockets.server import ServerProtocol

from aiconexus.protocol import CloseCode

__all__ = ["Keepalive"]


class Keepalive:
    """Pings the peer of ``conn`` over ``transport``; ``on_timeout`` runs after a 1011 close.

    Pongs are passed to :meth:`pong`; one whose payload is not the ping in flight's is
    ignored. Nothing is sent once the connection is closing.
    """

    __slots__ = (
        "_conn", "_interval", "_loop", "_on_timeout", "_payload", "_rtt", "_sent_at",
        "_timeout", "_timer", "_transport",
    )  # fmt: skip

    def __init__(
        self,
        conn: ServerProtocol,
        transport: asyncio.Transport,
        *,
        interval: float,
        timeout: float | None,
        on_timeout: Callable[[], None],
    ) -> None:
        self._conn = conn
        self._transport = transport
        self._loop = asyncio.get_running_loop()
        self._interval = interval
        self._timeout = timeout
        self._on_timeout = on_timeout
        self._timer: asyncio.TimerHandle | None = None
        self._payload: bytes | None = None
        self._sent_at = self._rtt = 0.0

    @property
    def rtt(self) -> float:
        """Seconds the last answered ping took (0 before the first pong)."""
        return self._rtt

    def start(self) -> None:
        """Ping after one interval."""
        self._timer = self._loop.call_later(self._interval, self._ping)

    def stop(self) -> None:
        """No more pings, no deadline."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._payload = None

    def pong(self, data: bytes | bytearray | memoryview) -> None:
        """A pong arrived: if it answers the ping in flight, schedule the next ping."""
        if self._payload is None or bytes(data) != self._payload:
            return  # unsolicited, or for an earlier ping
        self._rtt = self._loop.time() - self._sent_at
        self._payload = None
        if self._timeout is not None:  # the timer was the pong deadline
            self.stop()
            delay = max(0.0, self._interval - self._rtt)
            self._timer = self._loop.call_later(delay, self._ping)

    def _closing(self) -> bool:
        return self._conn.state is not State.OPEN or self._transport.is_closing()

    def _ping(self) -> None:
        self._timer = None
        if self._closing():
            return
        self._payload = payload = struct.pack("!I", random.getrandbits(32))
        self._sent_at = self._loop.time()
        self._conn.send_ping(payload)
        self._transport.write(b"".join(self._conn.data_to_send()))
        if self._timeout is not None:
            self._timer = self._loop.call_later(self._timeout, self._expired)
        else:
            self.start()

    def _expired(self) -> None:
        self._timer = None
        self._payload = None
        if self._closing():
            return
        self._conn.fail(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
        self._transport.write(b"".join(self._conn.data_to_send()))
        self._transport.close()
        self._on_timeout()
