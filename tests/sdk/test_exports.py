"""The public API: every name in ``aiconexus.__all__`` imports and is documented."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

import aiconexus

MODULES = [
    "aiconexus.agent",
    "aiconexus.backoff",
    "aiconexus.cli",
    "aiconexus.client",
    "aiconexus.directory",
    "aiconexus.errors",
    "aiconexus.retry",
    "aiconexus.state",
]


@pytest.mark.parametrize("name", aiconexus.__all__)
def test_every_exported_name_exists(name: str) -> None:
    """``from aiconexus import <name>`` works for each name in __all__."""
    namespace: dict[str, object] = {}
    exec(f"from aiconexus import {name}", namespace)
    assert namespace[name] is getattr(aiconexus, name)


def test_the_documented_quick_start_names_are_exported() -> None:
    """The names of the quick start are all public."""
    for name in ("Identity", "GatewayClient", "Agent", "Message", "ConnectionState"):
        assert name in aiconexus.__all__


def test_public_classes_and_functions_have_docstrings() -> None:
    """Each exported class or function carries a docstring."""
    for name in aiconexus.__all__:
        value = getattr(aiconexus, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), name


@pytest.mark.parametrize("module_name", MODULES)
def test_every_module_declares_all(module_name: str) -> None:
    """Each public module has __all__ naming only what it defines or imports."""
    module = importlib.import_module(module_name)
    assert module.__doc__
    for name in module.__all__:
        assert hasattr(module, name), f"{module_name}.{name}"


def test_the_package_is_typed() -> None:
    """py.typed ships with the package."""
    assert (Path(aiconexus.__file__).parent / "py.typed").is_file()
