"""GatewayClient's options are checked when the client is made, before any connection."""

from __future__ import annotations

from typing import Any

import pytest

from aiconexus import GatewayClient, Identity

URL = "ws://127.0.0.1:1/ws"


@pytest.mark.parametrize(
    ("url", "options", "complaint"),
    [
        ([], {}, "at least one gateway URL"),
        ("http://127.0.0.1:1/ws", {}, "not a WebSocket URL"),
        ([URL, "gateway:8000"], {}, "not a WebSocket URL"),
        (URL, {"gateway_did": "did:web:example.com"}, "gateway_did"),
        (URL, {"heartbeat_interval_s": 0}, "heartbeat_interval_s"),
    ],
)
def test_a_bad_option_raises_value_error_naming_it(
    url: Any, options: dict[str, Any], complaint: str
) -> None:
    """Each bad option is refused with a ValueError that says which."""
    with pytest.raises(ValueError, match=complaint):
        GatewayClient(url, Identity.generate(), **options)


def test_good_options_make_a_closed_client() -> None:
    """Several URLs and a pinned gateway: a client in state CLOSED, nothing connected yet."""
    gateway = Identity.generate().did
    client = GatewayClient([URL, "wss://example.com/ws"], Identity.generate(), gateway_did=gateway)
    assert (client.state, client.url, client.gateway_did) == ("closed", URL, gateway)
    assert client.session_id is None and client.unacknowledged == 0
