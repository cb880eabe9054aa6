"""What recipient acknowledgements cost: verified frames/s with and without them, one run.

Two fresh verifying gateways (memory backend) route the same pre-signed INTENT frames
between N sender/receiver pairs. In the first run receivers register plainly (the sender's
``delivered`` follows the socket write); in the second they register with
``"recipient_acks": true`` and answer what they read with signed, coalesced
``ACK {"status": "received"}`` frames (one per turn of the event loop, at most 256 ids), as
the SDK does, so each sender's ``delivered`` follows its receiver's ACK. A run ends when
every frame was received and every sender ACK came back. Prints both rates and their ratio.

Usage: ``python bench/acks.py [--pairs N] [--frames N] [--window N]``.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import orjson
from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).resolve().parent))

from driver import LoadPlan, load_options, make_plan
from processes import gateway

from aiconexus.protocol import Identity, Message

MAX_IDS = 256


async def _open(url: str, identity: Identity, acks: bool) -> tuple[ClientConnection, str]:
    """Register ``identity``; returns the connection and the gateway's DID."""
    ws = await connect(url, subprotocols=["ioap.v1"], compression=None, max_size=None)  # type: ignore[list-item]
    challenge = Message.parse(await ws.recv())
    payload: dict[str, object] = {"nonce": challenge.payload["nonce"]}
    if acks:
        payload["recipient_acks"] = True
    await ws.send(Message.create(identity, "REGISTER", challenge.from_, payload).to_json())
    reply = Message.parse(await ws.recv())
    if reply.type != "REGISTERED" or (acks and reply.payload.get("recipient_acks") is not True):
        raise RuntimeError(f"registration refused or without recipient_acks: {reply.payload}")
    return ws, challenge.from_


async def _pair(
    sender: ClientConnection,
    receiver: ClientConnection,
    receiver_id: Identity,
    gateway_did: str,
    frames: list[str],
    window: int,
    acks: bool,
) -> None:
    received = [0]
    room = asyncio.Event()
    pending: list[str] = []
    wake = asyncio.Event()

    async def receive() -> None:
        for _ in frames:
            text = await receiver.recv()
            received[0] += 1
            room.set()
            if acks:
                pending.append(orjson.loads(text)["id"])
                wake.set()

    async def acknowledge() -> None:
        while True:
            await wake.wait()
            wake.clear()
            await asyncio.sleep(0)  # coalesce what this turn of the loop read
            while pending:
                ids, pending[:] = pending[:MAX_IDS], pending[MAX_IDS:]
                ack = Message.create(
                    receiver_id, "ACK", gateway_did, {"status": "received", "ids": ids}
                )
                await receiver.send(ack.to_json())

    async def sender_acks() -> None:
        counted = 0
        while counted < len(frames):
            counted += len(orjson.loads(await sender.recv())["payload"]["ids"])

    tasks = [asyncio.create_task(receive()), asyncio.create_task(sender_acks())]
    acker = asyncio.create_task(acknowledge()) if acks else None
    for sent, frame in enumerate(frames):
        while sent - received[0] >= window:
            room.clear()
            await room.wait()
        await sender.send(frame)
    await asyncio.gather(*tasks)
    if acker is not None:
        acker.cancel()


async def _run(url: str, plan: LoadPlan, window: int, acks: bool) -> float:
    """Frames per second for one run against ``url``."""
    receivers = [await _open(url, identity, acks) for identity in plan.receivers]
    senders = [await _open(url, identity, False) for identity in plan.senders]
    try:
        start = time.perf_counter()
        await asyncio.gather(
            *(
                _pair(
                    senders[i][0],
                    receivers[i][0],
                    plan.receivers[i],
                    receivers[i][1],
                    plan.frames[i],
                    window,
                    acks,
                )
                for i in range(len(senders))
            )
        )
        return plan.total / (time.perf_counter() - start)
    finally:
        for ws, _ in senders + receivers:
            await ws.close()


def compare(pairs: int, frames: int, window: int) -> tuple[float, float]:
    """Verified frames/s without and with recipient acknowledgements, printed as measured."""
    plan = make_plan(pairs, frames)
    rates = {}
    for acks in (False, True):
        with gateway(verify=True) as service:
            rates[acks] = asyncio.run(_run(service.ws_url, plan, window, acks))
        label = "with recipient ACKs" if acks else "without recipient ACKs"
        print(f"{label:<34} {rates[acks]:>9,.0f} verified frames/s", flush=True)
    return rates[False], rates[True]


def main() -> None:
    """Run both variants and print the ratio."""
    args = load_options(__doc__, frames=2500, window=64).parse_args()
    without, with_acks = compare(args.pairs, args.frames, args.window)
    print(f"ratio with/without       {with_acks / without:9.2f}")


if __name__ == "__main__":
    main()
