"""The gateway's key file: made private with a warning when others can read it; not a directory."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

from support.gateway import GatewayProcess, gateway_script

from aiconexus import Identity


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
