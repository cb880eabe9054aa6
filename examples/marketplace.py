"""A buyer negotiates a task with a provider by INTENT (with a cost), then executes it.

1. buyer  -> provider  INTENT {query, task, params}
2. provider -> buyer   INTENT {status: "offer", cost}       (the Agent replies with the dict)
3. buyer  -> provider  EXEC_REQUEST {args}                  (accepted: the cost is in budget)
4. provider -> buyer   EXEC_RESPONSE {status: "success", result}

    python examples/marketplace.py [GATEWAY_URL]
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from aiconexus import Agent, GatewayClient, Identity, Message, MessageType

URL = (
    sys.argv[1]
    if len(sys.argv) > 1
    else os.environ.get("AICONEXUS_GATEWAY", "ws://127.0.0.1:8000/ws")
)
PRICE_PER_WORD = 0.01
BUDGET = 1.00

provider = Agent(Identity.generate(), capabilities=["translate"], metadata={"name": "translator"})


@provider.on("INTENT")
async def quote(msg: Message) -> dict[str, Any]:
    words = len(str(msg.payload.get("params", {}).get("text", "")).split())
    return {
        "status": "offer",
        "cost": {"amount": round(words * PRICE_PER_WORD, 2), "currency": "EUR"},
    }


@provider.on("EXEC_REQUEST")
async def translate(msg: Message) -> dict[str, Any]:
    text = msg.payload["args"]["text"]
    return {"translation": text.upper(), "language": msg.payload["args"]["to"]}


async def buy(buyer: GatewayClient) -> None:
    (seller,) = await buyer.list_agents(capability="translate")
    text = "hello world from the marketplace"
    intent = {"query": "translate", "task": "translate", "params": {"text": text, "to": "fr"}}
    await buyer.send(seller.did, MessageType.INTENT, intent)
    async with asyncio.timeout(10):
        offer = await buyer.recv()
    cost = offer.payload["cost"]
    print(f"buyer: {seller.metadata.get('name')} offers {cost['amount']} {cost['currency']}")
    if cost["amount"] > BUDGET:
        print("buyer: too expensive, declined")
        return
    response = await buyer.request(seller.did, {"text": text, "to": "fr"}, timeout=10)
    print(f"buyer: result {response.payload['result']}")


async def main() -> None:
    async with provider.connect(URL), GatewayClient(URL, Identity.generate()) as buyer:
        await buy(buyer)


if __name__ == "__main__":
    asyncio.run(main())
