"""Start gateways with settings for a test, and stop them after it: the fixtures' factories.

>>> start = GatewayStarter(InProcessGateway, backend_env, tmp_path)
>>> gateway = start(agent_timeout=2)        # AGENT_TIMEOUT=2, started, on a free port
>>> start.stop_all()
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Generic, TypeVar

from .backends import GatewayEnv
from .gateway import Gateway, GatewayProcess
from .inprocess import InProcessGateway

__all__ = ["GatewayStarter", "StartGateway", "StartGatewayProcess", "settings_env"]

G = TypeVar("G", bound=Gateway)


def settings_env(settings: Mapping[str, object]) -> dict[str, str]:
    """Settings as environment variables: names upper-cased, booleans as true/false."""
    env = {}
    for name, value in settings.items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        env[name.upper()] = str(value)
    return env


class GatewayStarter(Generic[G]):
    """``start(**settings)``: a started gateway of one kind; ``stop_all()`` after.

    ``kind`` builds a gateway from ``(env, workdir)`` (``InProcessGateway`` or
    ``GatewayProcess``); ``backend_env`` gives each gateway its backend's variables;
    ``defaults`` are settings every gateway gets unless the call overrides them.
    """

    def __init__(
        self,
        kind: Callable[[dict[str, str], Path], G],
        backend_env: GatewayEnv,
        workdir: Path,
        **defaults: object,
    ) -> None:
        self._kind = kind
        self._backend_env = backend_env
        self._workdir = workdir
        self._defaults = defaults
        self.started: list[G] = []

    def __call__(self, **settings: object) -> G:
        """A started gateway with ``settings`` (``agent_timeout=2`` or ``AGENT_TIMEOUT="2"``).

        Each gateway keeps its key file in a directory of its own, ``<workdir>/gw<n>``.
        """
        env = {**self._backend_env(), **settings_env({**self._defaults, **settings})}
        gateway = self._kind(env, self._workdir / f"gw{len(self.started)}")
        self.started.append(gateway)
        return gateway.start()

    def stop_all(self) -> None:
        """Stop every gateway started."""
        for gateway in self.started:
            gateway.stop()


StartGateway = GatewayStarter[InProcessGateway]
"""The ``start_gateway`` fixture: ``start_gateway(agent_timeout=2) -> InProcessGateway``."""

StartGatewayProcess = GatewayStarter[GatewayProcess]
"""The ``start_gateway_process`` fixture: as ``StartGateway``, each gateway a subprocess."""
