"""Bridge callers: BRIDGE_TOKENS parsing, bearer lookup, one stable DID per caller name."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from aiconexus_gateway.bridges.callers import (
    ANONYMOUS,
    SECRET_BYTES,
    CallerError,
    Callers,
    Refusal,
    load_or_create_secret,
)
from aiconexus_gateway.settings import Settings, SettingsError

TOKENS = {"alice": "alice-token-0123456789", "bob": "bob-token-0123456789ab"}


def test_each_name_has_a_stable_did_of_its_own(tmp_path: Path) -> None:
    """Same secret and name -> same DID (after a restart); other name or secret -> other DID."""
    secret = load_or_create_secret(tmp_path / "bridge.secret")
    again = load_or_create_secret(tmp_path / "bridge.secret")
    assert secret == again and len(secret) == SECRET_BYTES
    first, second = Callers(TOKENS, secret), Callers(TOKENS, again)
    assert first.did("alice") == second.did("alice")
    assert first.did("alice") != first.did("bob")
    other = Callers(TOKENS, load_or_create_secret(tmp_path / "other.secret"))
    assert other.did("alice") != first.did("alice")


def test_the_secret_file_is_private(tmp_path: Path) -> None:
    """Created 0600; a file of the wrong length is refused."""
    path = tmp_path / "dir" / "bridge.secret"
    load_or_create_secret(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_bytes(b"short")
    with pytest.raises(CallerError, match="32 bytes"):
        load_or_create_secret(path)


def test_bearer_lookup() -> None:
    """A known token names its caller; a missing or wrong one is refused, anonymous if allowed."""
    callers = Callers(TOKENS, bytes(32))
    assert callers.authenticate("Bearer alice-token-0123456789") == "alice"
    assert callers.authenticate("bearer  bob-token-0123456789ab ") == "bob"
    assert callers.authenticate(None) == Refusal("missing")
    assert callers.authenticate("Bearer alice-token-0123456780") == Refusal("wrong")
    assert callers.authenticate("Basic alice-token-0123456789") == Refusal("wrong")
    anonymous = Callers(TOKENS, bytes(32), allow_anonymous=True)
    assert anonymous.authenticate(None) == ANONYMOUS
    assert anonymous.authenticate("Bearer nope-nope-nope-nope") == Refusal("wrong")


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("alice", "not a caller name"),
        ("al ice:alice-token-0123456789", "not a caller name"),
        ("alice:short", "at least 16"),
        ("anonymous:alice-token-0123456789", "reserved"),
        ("alice:alice-token-0123456789,alice:bob-token-0123456789ab", "unique"),
        ("alice:alice-token-0123456789,bob:alice-token-0123456789", "unique"),
    ],
)
def test_bad_bridge_tokens_are_refused(raw: str, problem: str) -> None:
    """BRIDGE_TOKENS errors name the variable and the problem."""
    with pytest.raises(SettingsError, match=problem) as caught:
        Settings.from_env({"BRIDGE_TOKENS": raw})
    assert caught.value.variable == "BRIDGE_TOKENS"


def test_bridge_settings() -> None:
    """The bridge settings and what the gateway announces to agents."""
    settings = Settings.from_env(
        {
            "BRIDGE_TOKENS": "alice:alice-token-0123456789, bob:bob-token-0123456789ab",
            "A2A_ENABLED": "true",
            "GATEWAY_HOST": "0.0.0.0",
            "GATEWAY_PORT": "8123",
            "GATEWAY_KEY_FILE": "/k/gateway.key",
        }
    )
    assert dict(settings.bridge_tokens) == TOKENS
    assert settings.announced_public_url == "http://127.0.0.1:8123"
    assert settings.bridge_secret_path == Path("/k/bridge.secret")
    public = Settings.from_env({"PUBLIC_URL": "https://gw.example/base/"})
    assert public.announced_public_url == "https://gw.example/base"
    assert Settings.from_env({}).announced_public_url is None
    for bad in ("ftp://x", "https://", "https://x/?q=1"):
        with pytest.raises(SettingsError, match="PUBLIC_URL"):
            Settings.from_env({"PUBLIC_URL": bad})
    with pytest.raises(SettingsError, match="A2A_REMOTE_AGENTS"):
        Settings.from_env({"A2A_REMOTE_AGENTS": "http://ok, nope"})
