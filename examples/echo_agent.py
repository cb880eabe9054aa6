"""An agent that echoes the args of every EXEC_REQUEST back as its result.

Run a gateway (``make run``), then::

    python examples/echo_agent.py [GATEWAY_URL]

The URL defaults to $AICONEXUS_GATEWAY, else ws://127.0.0.1:8000/ws. Stop with Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from typing import Any

from aiconexus import Agent, ConnectionState, Identity, Message

URL = (
    sys.argv[1]
    if len(sys.argv) > 1
    else os.environ.get("AICONEXUS_GATEWAY", "ws://127.0.0.1:8000/ws")
)

agent = Agent(Identity.generate(), capabilities=["echo"], metadata={"name": "echo"})


@agent.on("EXEC_REQUEST")
async def echo(msg: Message) -> dict[str, Any]:
    return {"echo": msg.payload["args"]}


def announce(state: ConnectionState) -> None:
    if state is ConnectionState.CONNECTED:
        print(f"echo agent ready: {agent.did}", flush=True)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(agent.run(URL, on_state_change=announce))
