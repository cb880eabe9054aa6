"""How the SDK is laid out: small modules, one owner of the outbox, narrow constructors."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import aiconexus
from aiconexus import _cli_common, cli
from aiconexus._connection import Connection

PACKAGE = Path(aiconexus.__file__).parent
MAX_MODULE_LINES = 400
OUTBOX_OWNER = {"_pending.py", "_writer.py"}
"""Where the outbox is defined and the one module whose object owns it."""
ENTRY_STATE = {"accepted", "attempts", "resumed", "uncertain", "written_at", "written_on"}
"""Fields of an outbox entry that change while it awaits the gateway's answer."""


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_no_module_is_over_400_lines() -> None:
    """Each SDK module stays small enough to read in one sitting."""
    sizes = {p.relative_to(PACKAGE).as_posix(): len(p.read_text().splitlines()) for p in _modules()}
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}


def test_only_the_writer_holds_and_changes_the_outbox() -> None:
    """No other module names the Outbox or sets the state of one of its entries."""
    found = []
    for path in _modules():
        if path.name in OUTBOX_OWNER:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Name | ast.alias) and "Outbox" in {
                getattr(node, "id", None),
                getattr(node, "name", None),
            }:
                found.append(f"{path.name}:{node.lineno} names Outbox")
            targets = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, ast.AugAssign | ast.AnnAssign):
                targets = [node.target]
            for target in targets:
                if isinstance(target, ast.Attribute) and target.attr in ENTRY_STATE:
                    found.append(f"{path.name}:{target.lineno} sets {ast.unparse(target)}")
    assert found == []


def _own_names(cls: ast.ClassDef) -> set[str]:
    """Names a class defines: its methods and fields, and what its methods set on self."""
    names = set()
    for node in ast.walk(cls):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign | ast.Assign):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                if isinstance(target, ast.Name):
                    names.add(target.id)
                elif isinstance(target, ast.Attribute) and ast.unparse(target.value) == "self":
                    names.add(target.attr)
    return names


def test_no_object_reads_what_another_class_keeps_private() -> None:
    """``other._name`` only where the class of the code defines ``_name`` itself."""
    found = []
    for path in _modules():
        tree = ast.parse(path.read_text())
        owners = {}  # node -> the names its innermost class defines
        for cls in [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]:
            names = _own_names(cls)
            for node in ast.walk(cls):
                owners[id(node)] = names
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute) or not node.attr.startswith("_"):
                continue
            if node.attr.startswith("__") or ast.unparse(node.value) in ("self", "cls"):
                continue
            if node.attr not in owners.get(id(node), set()):
                found.append(f"{path.name}:{node.lineno} {ast.unparse(node)}")
    assert found == []


def test_the_connection_takes_grouped_arguments() -> None:
    """Connection's constructor takes collaborators and option groups, not every option."""
    parameters = inspect.signature(Connection.__init__).parameters
    assert len(parameters) - 1 <= 8, list(parameters)


def test_each_command_module_adds_parsers_that_know_how_to_run() -> None:
    """Every subcommand added through cli.COMMANDS carries the function that runs it."""
    parser = _cli_common.CommandParser(prog="aiconexus")
    commands = parser.add_subparsers(dest="command", required=True)
    for add_commands in cli.COMMANDS:
        add_commands(commands, "ws://127.0.0.1:1/ws")
    assert set(commands.choices) >= {"keygen", "whoami", "agents", "send", "request", "listen"}
    for name, command in commands.choices.items():
        assert callable(command.get_default("run")), name
