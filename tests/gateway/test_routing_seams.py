"""The seams of the routing folder: nobody changes the hub from outside, few name it, no cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import aiconexus_gateway

PACKAGE = Path(aiconexus_gateway.__file__).parent
MAY_NAME_HUB = {"app.py", "routing/hub.py", "routing/router.py", "routing/connection.py"}
"""Where the hub is assembled, and the two modules that route through it."""


def _modules() -> dict[str, ast.Module]:
    return {
        path.relative_to(PACKAGE).as_posix(): ast.parse(path.read_text())
        for path in sorted(PACKAGE.rglob("*.py"))
    }


def _module_name(relative: str) -> str:
    parts = ["aiconexus_gateway", *relative.removesuffix(".py").split("/")]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(relative: str, tree: ast.Module) -> set[str]:
    """Gateway modules ``relative`` imports, type-only imports included."""
    package = _module_name(relative).split(".")
    if not relative.endswith("__init__.py"):
        package = package[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            name = ".".join([*base, *([node.module] if node.module else [])])
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("aiconexus_gateway.")}


def _hub_attribute(target: ast.expr) -> str | None:
    """``hub.x`` / ``something.hub.x`` when ``target`` assigns an attribute of a hub."""
    if not isinstance(target, ast.Attribute):
        return None
    owner = target.value
    named = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", None)
    return ast.unparse(target) if named == "hub" else None


def test_only_the_hub_changes_its_fields() -> None:
    """No module but routing/hub.py assigns an attribute of a hub (it has methods for that)."""
    found = []
    for name, tree in _modules().items():
        if name == "routing/hub.py":
            continue
        for node in ast.walk(tree):
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = list(node.targets)
            elif isinstance(node, ast.AugAssign | ast.AnnAssign):
                targets = [node.target]
            for target in targets:
                changed = _hub_attribute(target)
                if changed is not None:
                    found.append(f"{name}:{getattr(node, 'lineno', 0)} {changed}")
    assert found == []


def test_few_modules_name_the_hub() -> None:
    """Only where it is assembled and the modules that route through it know the Hub class."""
    naming = {
        name
        for name, tree in _modules().items()
        for node in ast.walk(tree)
        if (isinstance(node, ast.Name) and node.id == "Hub")
        or (isinstance(node, ast.alias) and node.name == "Hub")
    }
    assert naming <= MAY_NAME_HUB, sorted(naming - MAY_NAME_HUB)


def test_the_routing_folder_has_no_import_cycle() -> None:
    """No routing module imports one that imports it back (type-only imports count too)."""
    trees = {name: tree for name, tree in _modules().items() if name.startswith("routing/")}
    graph = {
        _module_name(name): {
            dep for dep in _imports(name, tree) if dep.startswith("aiconexus_gateway.routing.")
        }
        for name, tree in trees.items()
    }
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        for dep in sorted(graph.get(node, ())):
            if dep in path:
                cycles.append(" -> ".join([*path[path.index(dep) :], dep]))
            elif dep in graph and len(path) < len(graph):
                visit(dep, [*path, dep])

    for start in sorted(graph):
        visit(start, [start])
    assert cycles == []
