""".env.gateway.example lists exactly the variables the gateway reads, with valid defaults."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aiconexus_gateway.settings import Settings

EXAMPLE = Path(__file__).resolve().parents[2] / ".env.gateway.example"
ASSIGNMENT = re.compile(r"^([A-Z][A-Z0-9_]*)=(.*)$")
MENTION = re.compile(r"^# ([A-Z][A-Z0-9_]*) \(")
# Set by docker-compose.gateway.yml from the shell, so only mentioned in a comment.
SET_BY_COMPOSE = {"LOG_LEVEL", "GATEWAY_PORT"}


def example_values() -> dict[str, str]:
    """The VAR=value lines of the example file."""
    values: dict[str, str] = {}
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = ASSIGNMENT.match(line)
        if match:
            assert match.group(1) not in values, f"{match.group(1)} twice"
            values[match.group(1)] = match.group(2)
    return values


def gateway_variables() -> set[str]:
    """The environment variables Settings.from_env reads (field names in upper case)."""
    return {name.upper() for name in Settings.__dataclass_fields__}


def test_every_assignment_is_a_gateway_setting() -> None:
    """No variable in the example is one the gateway ignores."""
    assert set(example_values()) <= gateway_variables()


def test_every_gateway_setting_is_in_the_example() -> None:
    """Each setting is assigned, or (for the two compose sets) explained in a comment."""
    mentioned = {
        match.group(1)
        for line in EXAMPLE.read_text(encoding="utf-8").splitlines()
        if (match := MENTION.match(line))
    }
    assert mentioned >= SET_BY_COMPOSE
    assert set(example_values()) | SET_BY_COMPOSE == gateway_variables()


def test_the_example_values_are_accepted() -> None:
    """Settings.from_env accepts the example as it is, with the container's values."""
    settings = Settings.from_env(example_values())
    assert settings.gateway_host == "0.0.0.0"
    assert str(settings.gateway_key_file) == "/data/gateway.key"
    assert settings.storage_type == "sqlite"
    assert str(settings.sqlite_path) == "/data/gateway.db"


CONTAINER_VALUES = {
    "GATEWAY_HOST", "GATEWAY_KEY_FILE", "GATEWAY_DATA_DIR", "STORAGE_TYPE", "SQLITE_PATH",
    "LOG_FILE",
}  # fmt: skip
"""The variables whose example value is the container's (Dockerfile.gateway's ENV)."""


@pytest.mark.parametrize("name", sorted(set(example_values()) - CONTAINER_VALUES))
def test_example_defaults_match_the_gateway_defaults(name: str) -> None:
    """Every other value the example shows is the gateway's own default (no second copy)."""
    from_example = Settings.from_env({name: example_values()[name]})
    assert getattr(from_example, name.lower()) == getattr(Settings(), name.lower())


def test_container_values_are_the_dockerfile_ones() -> None:
    """The example's container values are the ones Dockerfile.gateway sets."""
    dockerfile = (EXAMPLE.parent / "Dockerfile.gateway").read_text(encoding="utf-8")
    for name in CONTAINER_VALUES:
        assert f"{name}={example_values()[name]}" in dockerfile, name
