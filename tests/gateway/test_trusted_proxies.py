"""TRUSTED_PROXIES: from a trusted proxy the per-address limits count the forwarded client.

Behind a reverse proxy every connection comes from the proxy's address. From a peer listed
in TRUSTED_PROXIES, the client is the rightmost X-Forwarded-For entry that is not itself a
trusted proxy; from anyone else the header is ignored.
"""

from __future__ import annotations

import pytest
from support.client import RawClient
from support.starter import StartGateway

from aiconexus.protocol import MessageType
from aiconexus_gateway.settings import Settings, SettingsError


async def _agent(url: str, forwarded: str) -> RawClient | int:
    """A registered agent whose connection says X-Forwarded-For: ``forwarded``; or its close."""
    client = await RawClient.open(url, additional_headers={"X-Forwarded-For": forwarded})
    try:
        await client.read_challenge()
    except Exception:
        return await client.closed(within=5) or 0
    return client


async def test_forwarded_clients_are_counted_apart(start_gateway: StartGateway) -> None:
    """MAX_CONNECTIONS_PER_IP=2 behind a trusted proxy: two per forwarded client, not in all."""
    gateway = start_gateway(trusted_proxies="127.0.0.1", max_connections_per_ip=2)
    url = gateway.ws_url
    first = [await _agent(url, "198.51.100.1, 203.0.113.7") for _ in range(2)]
    assert all(isinstance(c, RawClient) for c in first)
    assert await _agent(url, "203.0.113.7") == 1013  # the same client, spoofed hop ignored
    assert isinstance(await _agent(url, "203.0.113.8"), RawClient)
    # A trusted hop on the right is skipped: the client is the address before it.
    assert isinstance(await _agent(url, "203.0.113.9, 127.0.0.1"), RawClient)


async def test_the_header_is_ignored_from_untrusted_peers(start_gateway: StartGateway) -> None:
    """Without TRUSTED_PROXIES every connection from 127.0.0.1 is 127.0.0.1, whatever it says."""
    gateway = start_gateway(max_connections_per_ip=2)
    url = gateway.ws_url
    for n in (1, 2):
        assert isinstance(await _agent(url, f"203.0.113.{n}"), RawClient)
    assert await _agent(url, "203.0.113.3") == 1013


async def test_per_address_rate_budget_follows_the_forwarded_client(
    start_gateway: StartGateway,
) -> None:
    """Two forwarded clients get a frame budget each (RATE_LIMIT_FRAMES_PER_S_PER_IP)."""
    gateway = start_gateway(
        trusted_proxies="127.0.0.0/8",
        rate_limit_frames_per_s_per_ip=5,
        rate_limit_burst_s=1,
        errors_per_s=0,
    )
    for forwarded in ("203.0.113.1", "203.0.113.2"):
        client = await _agent(gateway.ws_url, forwarded)
        assert isinstance(client, RawClient)
        await client.register()
        await client.expect("REGISTERED")
        for _ in range(8):
            await client.send_message("PING", client.gateway_did, {})
        answers = [(await client.recv()).type for _ in range(8)]
        assert answers.count(MessageType.PONG) == 5, answers


def test_trusted_proxies_setting() -> None:
    """Addresses and networks, normalised; anything else names the variable."""
    parsed = Settings.from_env({"TRUSTED_PROXIES": " 10.0.0.0/8 ,127.0.0.1, ::1/128"})
    assert parsed.trusted_proxies == ("10.0.0.0/8", "127.0.0.1", "::1")
    assert Settings.from_env({}).trusted_proxies == ()
    for bad in ("nginx", "10.0.0.0/33", ",".join(["10.0.0.1"] * 65)):
        with pytest.raises(SettingsError, match="TRUSTED_PROXIES"):
            Settings.from_env({"TRUSTED_PROXIES": bad})
