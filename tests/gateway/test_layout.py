"""How the gateway is laid out: folders by concern, imports one way, small modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import aiconexus_gateway

PACKAGE = Path(aiconexus_gateway.__file__).parent
MAX_MODULE_LINES = 400
ALLOWED = {
    "guards": set(),
    "observation": {"backend"},
    "backend": set(),
    "transport": {"guards"},
    "routing": {"guards", "observation", "backend", "transport"},
    "bridges": {"guards"},
}
"""The gateway folders each folder may import (besides itself and the top-level pieces)."""
TOP_SHARED = {"settings", "errors", "tasks", "lean", "keys", "_version"}
"""Top-level modules every folder may import; the others (app, server, cli) assemble."""
DATA_TABLES = {"backend/_redis_scripts.py"}
"""Modules that are mostly data (Lua scripts), exempt from the length rule."""


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _runtime_imports(tree: ast.Module) -> list[tuple[int, str]]:
    """``aiconexus_gateway`` modules imported when the module runs (type-only imports aside)."""
    skipped = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If)
        and ast.unparse(node.test) in {"TYPE_CHECKING", "typing.TYPE_CHECKING"}
        for inner in ast.walk(node)
    }
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return [(line, name) for line, name in found if name.split(".")[0] == "aiconexus_gateway"]


def test_no_module_is_over_400_lines() -> None:
    """Each gateway module stays small enough to read in one sitting (data tables aside)."""
    sizes = {p.relative_to(PACKAGE).as_posix(): len(p.read_text().splitlines()) for p in _modules()}
    too_long = {
        name: n for name, n in sizes.items() if n > MAX_MODULE_LINES and name not in DATA_TABLES
    }
    assert too_long == {}


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_each_folder_imports_only_the_layers_below_it(folder: str) -> None:
    """A folder imports itself, the shared top-level modules and the folders it may use."""
    found = []
    for path in sorted((PACKAGE / folder).rglob("*.py")):
        for line, name in _runtime_imports(ast.parse(path.read_text())):
            parts = name.split(".")
            target = parts[1] if len(parts) > 1 else ""
            if target in {folder, *ALLOWED[folder], *TOP_SHARED} or target.startswith("settings"):
                continue
            found.append(f"{path.relative_to(PACKAGE)}:{line} imports {name}")
    assert found == []


def test_every_folder_says_what_it_owns() -> None:
    """Each folder's ``__init__`` has a docstring naming what it owns and may import."""
    for folder in ALLOWED:
        doc = ast.get_docstring(ast.parse((PACKAGE / folder / "__init__.py").read_text()))
        assert doc, folder
        assert "import" in doc, folder
