"""Find an agent with the "echo" capability and send it an EXEC_REQUEST.

Start ``examples/echo_agent.py`` first, then::

    python examples/requester.py [GATEWAY_URL]
"""

from __future__ import annotations

import asyncio
import os
import sys

from aiconexus import GatewayClient, Identity

URL = (
    sys.argv[1]
    if len(sys.argv) > 1
    else os.environ.get("AICONEXUS_GATEWAY", "ws://127.0.0.1:8000/ws")
)


async def main() -> int:
    async with GatewayClient(URL, Identity.generate()) as client:
        agents = await client.list_agents(capability="echo")
        if not agents:
            print("no echo agent is registered; start examples/echo_agent.py first")
            return 1
        reply = await client.request(agents[0].did, {"text": "hello"}, timeout=5)
        print(f"reply from {reply.from_}: {reply.payload['result']}")
        return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
