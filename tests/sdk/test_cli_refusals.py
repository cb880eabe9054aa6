"""The command line names what is wrong in one line: bad arguments, and the gateway's answer.

Bad arguments exit 2 before anything is sent; what the gateway refused exits 1.
``aiconexus.cli.main`` runs in this process (no interpreter start per case); the console
script around it is tested in test_cli.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.client import RawClient
from support.ports import free_port
from support.starter import StartGateway

from aiconexus import Identity
from aiconexus.cli import main

RunCli = Callable[..., tuple[int, str, str]]
TOKEN = "directory-token-0123456789"


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Iterator[RunCli]:
    """``run_cli(*argv)`` -> (exit status, stdout, stderr); the CLI's log level is restored."""
    logger = logging.getLogger("aiconexus")
    level = logger.level

    def run(*argv: str) -> tuple[int, str, str]:
        status = main(list(argv))
        captured = capsys.readouterr()
        return status, captured.out, captured.err

    yield run
    logger.setLevel(level)


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    """A saved agent key."""
    path = tmp_path / "agent.key"
    Identity.generate().save(path)
    return path


PEER = Identity.generate().did


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["send", "--to", PEER, "--type", "REGISTER"], "--type must be one of "),
        (["send", "--to", "did:web:example.org", "--type", "OFFER"], "--to is not an Ed25519"),
        (["request", "--to", "did:web:example.org"], "--to is not an Ed25519 did:key"),
        (["request", "--to", PEER, "--timeout", "0"], "--timeout must be > 0"),
        (["listen", "--count", "0"], "--count must be at least 1"),
        (["ping", "--count", "0"], "--count must be at least 1"),
        (["listen", "--capability", ""], "a capability name is a non-empty string"),
        (["mcp", "--timeout", "0"], "--timeout and --refresh must be positive"),
        (
            ["send", "--to", PEER, "--type", "OFFER", "--payload", "[1]"],
            "--payload must be a JSON object",
        ),
        (["agents", "--gateway", "ftp://example.org/ws"], "not a gateway URL: 'ftp://"),
    ],
)
def test_bad_arguments_exit_2_naming_the_problem(
    run_cli: RunCli, key_file: Path, argv: list[str], problem: str
) -> None:
    """Each mistake is one ``aiconexus: error:`` line; nothing is printed on stdout."""
    if argv[0] in ("send", "listen"):
        argv = [*argv, "--key", str(key_file)]
    status, out, err = run_cli(*argv)
    assert (status, out) == (2, "")
    assert err.startswith("aiconexus: error: ") and problem in err, err
    assert len(err.strip().splitlines()) == 1


def test_a_key_file_that_holds_no_key_exits_2(run_cli: RunCli, tmp_path: Path) -> None:
    """The key file is read before anything is sent; what is wrong with it is the message."""
    bad = tmp_path / "agent.key"
    bad.write_text("not a key")
    status, out, err = run_cli("send", "--key", str(bad), "--to", PEER, "--type", "OFFER")
    assert (status, out) == (2, "")
    assert err.startswith("aiconexus: error: ") and len(err.strip().splitlines()) == 1


def test_agents_of_an_empty_directory_and_of_a_locked_one(
    run_cli: RunCli, start_memory_gateway: StartGateway
) -> None:
    """No agents: said in words. A directory behind AGENTS_TOKEN: 401 with the --token hint."""
    empty = start_memory_gateway()
    assert run_cli("agents", "--gateway", empty.ws_url) == (0, "no agents registered\n", "")
    locked = start_memory_gateway(agents_token=TOKEN)
    status, out, err = run_cli("agents", "--gateway", locked.ws_url)
    assert (status, out) == (1, "")
    assert "answered 401 (give the directory's token with --token)" in err
    assert run_cli("agents", "--gateway", locked.ws_url, "--token", TOKEN)[0] == 0


def test_a_message_the_gateway_refuses_exits_1_with_its_answer(
    run_cli: RunCli, start_memory_gateway: StartGateway, key_file: Path
) -> None:
    """Sent to an offline agent where nothing may be stored: the refusal, in one line."""
    gateway = start_memory_gateway(store_max_per_agent=0)
    argv = ["send", "--key", str(key_file), "--to", PEER, "--type", "OFFER"]
    status, out, err = run_cli(*argv, "--payload", '{"sdp": "v=0"}', "--gateway", gateway.ws_url)
    assert (status, out) == (1, "")
    assert err.startswith("aiconexus: error: the gateway refused the message: ")
    assert "UNKNOWN_AGENT: recipient is not connected" in err


def test_no_gateway_at_the_url_exits_1_for_each_command(run_cli: RunCli, key_file: Path) -> None:
    """Nothing listens at the URL: listen and request say the gateway is unreachable."""
    dead = f"ws://127.0.0.1:{free_port()}/ws"
    for argv in (
        ["listen", "--key", str(key_file), "--count", "1"],
        ["request", "--key", str(key_file), "--to", PEER, "--timeout", "5"],
    ):
        status, out, err = run_cli(*argv, "--gateway", dead)
        assert (status, out) == (1, ""), err
        assert err.startswith("aiconexus: error: ") and dead in err, err


async def test_a_request_nobody_answers_and_one_to_an_offline_agent(
    run_cli: RunCli, start_memory_gateway: StartGateway, key_file: Path
) -> None:
    """A silent connected agent: the timeout, named. An offline one: the gateway's refusal.

    The gateway stores nothing (STORE_MAX_PER_AGENT=0), so it refuses a request to an agent
    not connected at once.
    """
    gateway = start_memory_gateway(store_max_per_agent=0)
    silent = await RawClient.connect(gateway.ws_url)
    argv = ["request", "--key", str(key_file), "--gateway", gateway.ws_url]
    status, out, err = await asyncio.to_thread(
        run_cli, *argv, "--to", silent.did, "--timeout", "0.5"
    )
    assert (status, out) == (1, "")
    assert f"no EXEC_RESPONSE from {silent.did} within 0.5s" in err
    offline = Identity.generate().did
    status, out, err = await asyncio.to_thread(run_cli, *argv, "--to", offline)
    assert (status, out) == (1, "")
    assert err.startswith("aiconexus: error: the request failed: UNKNOWN_AGENT"), err
