"""Every Python block of README.md and SDK_USAGE.md runs as written against a real gateway.

Blocks are told apart by what they do: one that calls ``agent.run(`` serves until a signal,
one that calls ``asyncio.run(`` otherwise is a program run to its end, and the rest are
definitions that must run without error. The gateway URL of the text is swapped for the
test gateway's; blocks run in order in one directory (the Agent block loads the key file
that the Identities block saved).
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support.gateway import Gateway
from support.starter import StartGateway

ROOT = Path(__file__).resolve().parents[2]
DOC_URL = "ws://127.0.0.1:8000/ws"


def python_blocks(name: str) -> list[str]:
    """The ```python blocks of a document at the repository root."""
    text = (ROOT / name).read_text(encoding="utf-8")
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.S | re.M)


SERVING = [
    b for doc in ("README.md", "SDK_USAGE.md") for b in python_blocks(doc) if "agent.run(" in b
]
PROGRAMS = [b for b in python_blocks("SDK_USAGE.md") if "asyncio.run(" in b and b not in SERVING]
DEFINITIONS = [b for b in python_blocks("SDK_USAGE.md") if "asyncio.run(" not in b]


def python(code: str, url: str) -> list[str]:
    return [sys.executable, "-c", code.replace(DOC_URL, url)]


def run(code: str, url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        python(code, url), cwd=cwd, capture_output=True, text=True, timeout=30, check=False
    )


def test_the_documents_hold_the_expected_blocks() -> None:
    """Both quick-start agents, the requester and the other blocks are found (none skipped)."""
    assert len(SERVING) == 2
    assert len(PROGRAMS) == 2 and any("request(" in b for b in PROGRAMS)
    assert len(DEFINITIONS) >= 3
    a2a_client = [b for b in python_blocks("README.md") if "from a2a.client import" in b]
    assert python_blocks("README.md") == [SERVING[0], *a2a_client]  # A2A: tests/bridges


@pytest.mark.parametrize(("index", "signum"), [(0, signal.SIGINT), (1, signal.SIGTERM)])
def test_the_quick_start_agent_serves_logs_and_stops_cleanly(
    gateway: Gateway, tmp_path: Path, index: int, signum: signal.Signals
) -> None:
    """It logs its DID, answers the requester, and stops on a signal in one line, exit 0."""
    agent = subprocess.Popen(
        python(SERVING[index], gateway.ws_url),
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert agent.stderr is not None
        started = agent.stderr.readline()
        match = re.search(r"agent (did:key:z6Mk\w+) connected at (\S+) \(gateway did:key:", started)
        assert match, started
        assert match.group(2) == gateway.ws_url
        requester = next(b for b in PROGRAMS if "request(" in b)
        answered = run(requester, gateway.ws_url, tmp_path)
        assert answered.returncode == 0, answered.stderr
        assert answered.stdout.strip() == "{'echo': {'text': 'hi'}}"
    finally:
        agent.send_signal(signum)
        _, rest = agent.communicate(timeout=15)
    assert agent.returncode == 0, rest
    assert "Traceback" not in rest
    lines = rest.strip().splitlines()
    assert len(lines) == 1 and f"stopped on {signum.name}: unregistered" in lines[0], rest
    assert match.group(1) not in gateway.get("/agents").text


def test_the_requester_without_an_echo_agent_says_so(
    start_memory_gateway: StartGateway, tmp_path: Path
) -> None:
    """No echo agent registered: a sentence, not a ValueError from unpacking."""
    fresh = start_memory_gateway()
    requester = next(b for b in PROGRAMS if "request(" in b)
    result = run(requester, fresh.ws_url, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "no echo agent is registered" in result.stdout


def test_the_other_blocks_run(gateway: Gateway, tmp_path: Path) -> None:
    """The identity, agent, error and state-listener blocks run without error, in order."""
    for block in DEFINITIONS:
        result = run(block, gateway.ws_url, tmp_path)
        assert result.returncode == 0, (block, result.stderr)
    states = next(b for b in PROGRAMS if "on_state" in b)
    result = run(states, gateway.ws_url, tmp_path)
    assert result.returncode == 0, result.stderr
    printed = [line.split(": ")[1] for line in result.stdout.splitlines()]
    assert printed == ["connecting", "connected", "closed"]


def _bash_blocks(name: str) -> list[str]:
    text = (ROOT / name).read_text(encoding="utf-8")
    return re.findall(r"^```bash\n(.*?)^```$", text, flags=re.S | re.M)


def _inline_commands(name: str) -> list[str]:
    text = (ROOT / name).read_text(encoding="utf-8")
    prose = re.sub(r"^```.*?^```$", "", text, flags=re.S | re.M)
    return re.findall(r"`((?:\S*/)?(?:aiconexus|python) [^`]*)`", prose)


@pytest.mark.parametrize("name", ["README.md", "SDK_USAGE.md"])
def test_commands_say_where_make_install_put_them(name: str) -> None:
    """``aiconexus ...`` and ``python ...`` run from .venv: prefixed, or after activating it."""
    for block in _bash_blocks(name):
        lines = [line.strip() for line in block.splitlines()]
        activated = False
        for line in lines:
            activated = activated or line.startswith("source .venv/bin/activate")
            if re.match(r"(aiconexus|python) ", line):
                assert activated, f"{name}: {line!r} without .venv/bin/ or activating .venv"
    if name == "README.md":
        for command in _inline_commands(name):
            assert command.startswith(".venv/bin/"), f"README.md: `{command}`"
    else:
        text = (ROOT / name).read_text(encoding="utf-8")
        assert text.index(".venv/bin/aiconexus") < text.index("`aiconexus ")


def test_readme_says_how_to_change_the_port_and_make_honours_it() -> None:
    """README's two commands name ``make run PORT=9000``; make passes it to the gateway."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    assert "make run PORT=9000" in section and ".venv/bin/python" in readme
    dry = subprocess.run(
        ["make", "-n", "-o", "install", "run", "PORT=9000"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert "aiconexus-gateway" in dry.stdout and "--port 9000" in dry.stdout
