"""Recipient acknowledgements: tell the gateway which frames this client took in.

On a session whose REGISTERED confirmed ``recipient_acks``, every frame from another agent
that the client has checked (verification and de-duplication done, before user code sees
it) is acknowledged with one signed ``ACK {"status": "received", "ids": [...]}`` to the
gateway. Frames dropped as duplicates or stale are acknowledged too: dropping them is final,
and the gateway must stop holding them. The ids noted during one loop iteration go out as one
ACK (at most :data:`MAX_IDS` ids each), so a burst costs a few frames, not one per frame.
Ids not sent when the connection ends are forgotten: the gateway sends those frames again on
the next session, and the client drops them as duplicates and acknowledges them then.
"""

from __future__ import annotations

import asyncio
import contextlib

from websockets.exceptions import ConnectionClosed

from aiconexus._session import Session
from aiconexus.protocol import Identity, Message, MessageType

__all__ = ["MAX_IDS", "Receipts"]

MAX_IDS = 256
"""Most ids one recipient ACK lists (the gateway refuses more)."""


class Receipts:
    """Coalesced recipient ACKs of one session."""

    def __init__(self, session: Session, identity: Identity) -> None:
        self._session = session
        self._identity = identity
        self._ids: list[str] = []
        self._task: asyncio.Task[None] | None = None

    def note(self, message_id: str) -> None:
        """Acknowledge ``message_id`` with the next ACK (sent after this loop iteration)."""
        self._ids.append(message_id)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._send())

    async def _send(self) -> None:
        try:
            await asyncio.sleep(0)  # let the frames read in this iteration join
            while self._ids:
                ids, self._ids = self._ids[:MAX_IDS], self._ids[MAX_IDS:]
                ack = Message.create(
                    self._identity,
                    MessageType.ACK,
                    self._session.gateway_did,
                    {"status": "received", "ids": ids},
                )
                await self._session.connection.send(ack.to_json())
        except ConnectionClosed:
            self._ids.clear()  # sent again by the gateway on the next session
        finally:
            self._task = None

    async def flush(self) -> None:
        """Return once every id noted so far was written (or the connection closed)."""
        while self._task is not None:
            await asyncio.wait({self._task})

    async def close(self) -> None:
        """Stop sending (the session ended)."""
        task = self._task
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
