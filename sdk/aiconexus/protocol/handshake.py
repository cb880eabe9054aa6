"""The IoAP opening handshake, both sides, without I/O: CHALLENGE -> REGISTER -> REGISTERED.

Frames in, frames and results out; nothing here awaits or touches a socket, so the SDK, the
gateway and test clients all drive the same checks, and their tests need no event loop. The
two sides live in :mod:`.client_handshake` and :mod:`.server_handshake`; import either from
here (or from :mod:`aiconexus.protocol`).

The agent's side, :class:`ClientHandshake`::

    handshake = ClientHandshake(identity, capabilities=["search"])
    register = handshake.receive_challenge(await ws.recv())    # checks the CHALLENGE
    await ws.send(register.to_json())
    registered = handshake.receive_reply(await ws.recv())      # REGISTERED, or raises

The gateway's side, :class:`ServerHandshake`::

    handshake = ServerHandshake(frames, clock_skew_s=300)
    await ws.send(handshake.challenge())
    try:
        registration = handshake.receive_register(await ws.recv())
    except IoapError as exc:
        refusal = handshake.refuse(exc, sender=..., correlation_id=...)  # ERROR + close 1008

A failed check raises the :class:`~.errors.IoapError` whose code the wire reports (the
gateway's side, and an ERROR answering REGISTER on the agent's side) or, on the agent's side,
:class:`~.errors.HandshakeError` when the gateway's frames break the protocol.
"""

from .client_handshake import ClientHandshake, ClientState, Registered
from .constants import DEFAULT_CLOCK_SKEW_S
from .server_handshake import (
    FrameWriter,
    IdentityFrames,
    PayloadCheck,
    Refusal,
    Registration,
    ServerHandshake,
    ServerState,
    new_nonce,
    verify_register,
)

__all__ = [
    "DEFAULT_CLOCK_SKEW_S",
    "ClientHandshake",
    "ClientState",
    "FrameWriter",
    "IdentityFrames",
    "PayloadCheck",
    "Refusal",
    "Registered",
    "Registration",
    "ServerHandshake",
    "ServerState",
    "new_nonce",
    "verify_register",
]
