"""Errors as objects (ERROR payloads keep their details), the exception root, session states."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import MutableMapping
from typing import Any

import pytest
from support.client import forge

import aiconexus_gateway
from aiconexus.protocol import AIConexusError
from aiconexus_gateway.errors import GatewayError
from aiconexus_gateway.observation.metrics import Metrics
from aiconexus_gateway.routing.delivery import Delivered
from aiconexus_gateway.routing.parts import SessionLimits
from aiconexus_gateway.routing.session import Session, SessionState
from aiconexus_gateway.settings import Settings


async def test_a_payload_that_does_not_fit_reports_its_problems(pair: Any) -> None:
    """MALFORMED_MESSAGE of a routed frame carries the schema's problems in ``details``."""
    alice, bob = pair
    frame = forge(alice.identity, to=bob.did, payload={"sdp": 1})
    await alice.send_text(frame)
    error = await alice.expect_error("MALFORMED_MESSAGE")
    problems = error.payload["details"]["errors"]
    assert problems and all(isinstance(line, str) for line in problems)
    assert any(line.startswith("sdp:") for line in problems), problems


def _gateway_exceptions() -> list[type[BaseException]]:
    found: list[type[BaseException]] = []
    prefix = aiconexus_gateway.__name__ + "."
    for info in pkgutil.walk_packages(aiconexus_gateway.__path__, prefix):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
                and not name.startswith("_")
            ):
                found.append(value)
    return found


def test_every_gateway_exception_derives_from_gateway_error() -> None:
    """Each public exception class of the gateway has GatewayError (and AIConexusError) above it."""
    classes = _gateway_exceptions()
    names = {cls.__name__ for cls in classes}
    assert {"SettingsError", "BackendUnavailableError", "ListenError"} <= names
    tree = inspect.getdoc(importlib.import_module("aiconexus_gateway.errors")) or ""
    for cls in classes:
        assert issubclass(cls, GatewayError) and issubclass(cls, AIConexusError), cls
        assert cls.__name__ in tree, f"{cls.__name__} is missing from the tree in errors.py"


def test_gateway_errors_keep_their_builtin_bases() -> None:
    """Callers that caught ValueError or OSError still do."""
    from aiconexus_gateway.guards.policy_file import PolicyError
    from aiconexus_gateway.observation.logs import LogFileError
    from aiconexus_gateway.server import ListenError
    from aiconexus_gateway.settings import SettingsError

    assert issubclass(SettingsError, ValueError) and issubclass(PolicyError, ValueError)
    assert issubclass(ListenError, OSError) and issubclass(LogFileError, OSError)
    assert str(ListenError("GATEWAY_PORT", "in use")) == "GATEWAY_PORT: in use"


async def _nowhere(message: MutableMapping[str, Any]) -> None:
    """An ASGI send that drops what it is given."""


class _Owner:
    """A session owner for life-cycle tests: no frame is ever delivered there."""

    def delivered(self, session: Session, verdict: Delivered) -> None:
        raise AssertionError("nothing is delivered in these tests")

    def slow(self, session: Session) -> None:
        raise AssertionError("nothing is in flight in these tests")


def _session() -> Session:
    limits = SessionLimits.from_settings(Settings(send_queue_size=4))
    return Session(
        _nowhere, session_id="s", peer="test", limits=limits, owner=_Owner(), metrics=Metrics()
    )


async def test_a_session_moves_only_forwards() -> None:
    """CONNECTED -> CHALLENGE_SENT -> REGISTERED -> CLOSED; anything else is refused."""
    session = _session()
    assert session.state is SessionState.CONNECTED
    with pytest.raises(RuntimeError):
        session.advance(SessionState.REGISTERED)  # not before the CHALLENGE
    session.advance(SessionState.CHALLENGE_SENT)
    session.advance(SessionState.REGISTERED)
    with pytest.raises(RuntimeError):
        session.advance(SessionState.CHALLENGE_SENT)
    assert session.terminate("done") == [] and session.closed
    with pytest.raises(RuntimeError):
        session.advance(SessionState.REGISTERED)
    assert session.terminate("again") == [] and session.close_reason == "done"


async def test_any_state_may_close() -> None:
    """A connection refused during its handshake closes from where it is."""
    for steps in ([], [SessionState.CHALLENGE_SENT]):
        session = _session()
        for state in steps:
            session.advance(state)
        session.terminate("refused")
        assert session.state is SessionState.CLOSED
