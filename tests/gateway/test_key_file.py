"""The gateway's key file: made private when others can read it; refused with its path when bad.

A directory, a file that holds no key, a path that cannot be created: each stops the start.
"""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest
from support.gateway import GatewayProcess, gateway_script

from aiconexus import Identity
from aiconexus_gateway.keys import KeyFileError, load_or_create_key


def test_a_key_file_readable_by_others_is_made_private_with_a_warning(tmp_path: Path) -> None:
    """Mode 0644 becomes 0600, the log says so, and the DID is the file's."""
    key = tmp_path / "gateway.key"
    identity = Identity.generate()
    identity.save(key)
    key.chmod(0o644)
    with GatewayProcess({"GATEWAY_KEY_FILE": str(key)}, tmp_path) as gateway:
        assert gateway.did == identity.did
        gateway.wait_for_log(f"gateway key file {key} was readable by others; now 0600")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_a_directory_as_key_file_is_refused(tmp_path: Path) -> None:
    """GATEWAY_KEY_FILE naming a directory: exit 2, one line naming the variable and path."""
    env = GatewayProcess({"GATEWAY_KEY_FILE": str(tmp_path)}, tmp_path).env
    result = subprocess.run(
        [gateway_script()], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 2, result.stderr
    assert f"GATEWAY_KEY_FILE: {tmp_path} is a directory" in result.stderr


def test_a_key_file_that_is_no_key_is_refused_with_its_path(tmp_path: Path) -> None:
    """A file that holds no key: KeyFileError naming the file; it is left as it was."""
    key = tmp_path / "gateway.key"
    key.write_text("not a key\n")
    key.chmod(0o600)
    with pytest.raises(KeyFileError, match=f"cannot read the gateway key file {key}"):
        load_or_create_key(key)
    assert key.read_text() == "not a key\n"


def test_a_key_file_that_cannot_be_created_is_refused_with_its_path(tmp_path: Path) -> None:
    """A key file under a regular file cannot be created: KeyFileError naming the path."""
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    key = blocker / "keys" / "gateway.key"
    with pytest.raises(KeyFileError, match=f"cannot create the gateway key file {key}"):
        load_or_create_key(key)
