"""The wheels of both packages carry the MIT license, their README and the console scripts."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = (
    "import sys; from poetry.core.masonry.api import build_wheel; print(build_wheel(sys.argv[1]))"
)


def test_every_license_copy_is_the_root_license() -> None:
    """sdk/LICENSE and gateway/LICENSE (the copies the builds pick up) equal ./LICENSE."""
    license_text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert license_text.startswith("MIT License")
    for package in ("sdk", "gateway"):
        assert (ROOT / package / "LICENSE").read_text(encoding="utf-8") == license_text


@pytest.mark.parametrize(
    ("directory", "name", "script"),
    [("sdk", "aiconexus_sdk", "aiconexus"), ("gateway", "aiconexus_gateway", "aiconexus-gateway")],
)
def test_the_wheel_has_license_readme_and_script(
    tmp_path: Path, directory: str, name: str, script: str
) -> None:
    """Built with the packages' own backend: LICENSE inside, README as long description."""
    built = subprocess.run(
        [sys.executable, "-c", BUILD, str(tmp_path)],
        cwd=ROOT / directory,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    wheel = tmp_path / built.stdout.strip().splitlines()[-1]
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        assert info.startswith(name + "-")
        license_name = next(n for n in names if n.startswith(info) and n.endswith("LICENSE"))
        assert archive.read(license_name) == (ROOT / "LICENSE").read_bytes()
        metadata = Parser().parsestr(archive.read(f"{info}/METADATA").decode())
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
    assert metadata.get("License-Expression", metadata.get("License")) == "MIT"
    assert metadata["Description-Content-Type"].startswith("text/markdown")
    readme = (ROOT / directory / "README.md").read_text(encoding="utf-8")
    assert str(metadata.get_payload()).strip() == readme.strip()
    assert f"\n{script}=" in entry_points
