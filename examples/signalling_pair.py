"""Two peers exchange WebRTC signalling through the gateway: OFFER, ANSWER, ICE_CANDIDATE.

The gateway only relays the signed frames; the media would then flow peer to peer.

    python examples/signalling_pair.py [GATEWAY_URL]
"""

from __future__ import annotations

import asyncio
import os
import sys

from aiconexus import GatewayClient, Identity, MessageType

URL = (
    sys.argv[1]
    if len(sys.argv) > 1
    else os.environ.get("AICONEXUS_GATEWAY", "ws://127.0.0.1:8000/ws")
)

OFFER_SDP = "v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
ANSWER_SDP = "v=0\r\no=callee 2 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


async def callee(client: GatewayClient) -> None:
    """Answer the first OFFER, then send one ICE candidate back."""
    async for msg in client:
        if msg.type == MessageType.OFFER:
            print(f"callee: got OFFER ({len(msg.payload['sdp'])} bytes of SDP)")
            await client.reply(msg, MessageType.ANSWER, {"sdp": ANSWER_SDP})
            await client.send(
                msg.from_,
                MessageType.ICE_CANDIDATE,
                {
                    "candidate": "candidate:2 1 UDP 2122252543 127.0.0.1 50002 typ host",
                    "sdp_mid": "0",
                    "sdp_mline_index": 0,
                },
            )
        elif msg.type == MessageType.ICE_CANDIDATE:
            print(f"callee: got ICE candidate {msg.payload['candidate']}")
            return


async def main() -> None:
    async with (
        GatewayClient(URL, Identity.generate()) as caller,
        GatewayClient(URL, Identity.generate()) as callee_client,
    ):
        answering = asyncio.create_task(callee(callee_client))
        status = await caller.send(callee_client.did, MessageType.OFFER, {"sdp": OFFER_SDP})
        print(f"caller: OFFER {status}")
        async with asyncio.timeout(10):
            async for msg in caller:
                if msg.type == MessageType.ANSWER:
                    print("caller: got ANSWER")
                    await caller.send(
                        msg.from_,
                        MessageType.ICE_CANDIDATE,
                        {
                            "candidate": "candidate:1 1 UDP 2122252543 127.0.0.1 50001 typ host",
                            "sdp_mid": "0",
                            "sdp_mline_index": 0,
                        },
                    )
                elif msg.type == MessageType.ICE_CANDIDATE:
                    print(f"caller: got ICE candidate {msg.payload['candidate']}")
                    break
            await answering
    print("signalling complete")


if __name__ == "__main__":
    asyncio.run(main())
