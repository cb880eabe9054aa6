"""Typed reading of an environment mapping for :meth:`.settings.Settings.from_env`.

:class:`EnvReader` reads one variable at a time from the mapping it is given (never from
``os.environ`` itself), with the default when the variable is unset or blank, and raises
:class:`SettingsError` naming the variable when its value is not valid.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from aiconexus_gateway.errors import GatewayError

__all__ = ["MIN_TOKEN_LENGTH", "EnvReader", "SettingsError"]

MIN_TOKEN_LENGTH = 16
"""Shortest bearer token accepted in AGENTS_TOKEN / METRICS_TOKEN."""

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class SettingsError(GatewayError, ValueError):
    """A setting has an invalid value; ``variable`` names the environment variable."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


class EnvReader:
    """Typed access to an environment mapping; blank values mean "use the default"."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def _raw(self, name: str) -> str | None:
        value = self._environ.get(name)
        if value is None or not value.strip():
            return None
        return value.strip()

    def text(self, name: str, default: str, *, allow_empty: bool = False) -> str:
        """A text value (``default`` when unset; an empty default must be allowed)."""
        raw = self._raw(name)
        if raw is None:
            if not default and not allow_empty:
                raise SettingsError(name, "must not be empty")
            return default
        return raw

    def path_or_none(self, name: str) -> Path | None:
        """A path (``~`` expanded), or None when unset."""
        raw = self._raw(name)
        return None if raw is None else Path(raw).expanduser()

    def token_or_none(self, name: str) -> str | None:
        """A bearer token of at least MIN_TOKEN_LENGTH printable characters, or None."""
        raw = self._raw(name)
        if raw is not None and (
            len(raw) < MIN_TOKEN_LENGTH or not all(33 <= ord(c) < 127 for c in raw)
        ):
            raise SettingsError(
                name,
                f"must be at least {MIN_TOKEN_LENGTH} printable ASCII characters without spaces",
            )
        return raw

    def integer(self, name: str, default: int, *, low: int = 0, high: int | None = None) -> int:
        """An integer between ``low`` and ``high`` (no upper bound when None)."""
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(name, f"must be an integer, got {raw!r}") from None
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f">= {low}"
            raise SettingsError(name, f"must be {bound}, got {value}")
        return value

    def integer_or_none(self, name: str, *, low: int, high: int) -> int | None:
        """An integer between ``low`` and ``high``, or None when unset."""
        if self._raw(name) is None:
            return None
        return self.integer(name, low, low=low, high=high)

    def number(self, name: str, default: float) -> float:
        """A positive, finite number of seconds."""
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise SettingsError(name, f"must be a number of seconds, got {raw!r}") from None
        if not value > 0 or value == float("inf"):
            raise SettingsError(name, f"must be a positive number of seconds, got {raw!r}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        """true/false (also 1/0, yes/no, on/off)."""
        raw = self._raw(name)
        if raw is None:
            return default
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise SettingsError(name, f"must be true or false, got {raw!r}")

    def choice(
        self, name: str, default: str, allowed: tuple[str, ...], *, upper: bool = False
    ) -> str:
        """One of ``allowed`` (compared in lower case, or upper with ``upper``)."""
        raw = self._raw(name)
        if raw is None:
            return default
        value = raw.upper() if upper else raw.lower()
        if value not in allowed:
            raise SettingsError(name, f"must be one of {', '.join(allowed)}, got {raw!r}")
        return value
