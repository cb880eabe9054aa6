"""A bare FastAPI/uvicorn WebSocket relay, forward only: the baseline the gateway is compared to.

Clients connect to ``/ws?id=<name>``; every text frame is forwarded unchanged to the client
named by the frame's ``to`` field. No handshake, no checks, no ACKs, no store.
Run: ``python bench/bare_relay.py PORT``.
"""

from __future__ import annotations

import sys

import orjson
import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

app = FastAPI()
clients: dict[str, WebSocket] = {}


@app.websocket("/ws")
async def relay(websocket: WebSocket) -> None:
    name = websocket.query_params["id"]
    await websocket.accept()
    clients[name] = websocket
    try:
        while True:
            text = await websocket.receive_text()
            target = clients.get(orjson.loads(text)["to"])
            if target is not None:
                await target.send_text(text)
    except WebSocketDisconnect:
        pass
    finally:
        clients.pop(name, None)


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        log_level="warning",
    )
