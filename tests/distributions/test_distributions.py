"""The wheels of both packages carry the MIT license, their README and the console scripts.

The optional native verifier (native/) builds a wheel even without a C compiler.
"""

from __future__ import annotations

import os
import shutil
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
    """sdk/, gateway/ and native/LICENSE (the copies the builds pick up) equal ./LICENSE."""
    license_text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert license_text.startswith("MIT License")
    for package in ("sdk", "gateway", "native"):
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


def _native_wheel(tmp_path: Path, **env: str) -> list[str]:
    """Build native/'s wheel from a clean copy (no build/ left by an earlier install)."""
    source = tmp_path / "native"
    shutil.copytree(ROOT / "native", source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "."],
        cwd=source,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", **env},
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    )
    (wheel,) = source.glob("aiconexus_native-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        license_name = next(n for n in names if n.endswith("LICENSE"))
        assert archive.read(license_name) == (ROOT / "LICENSE").read_bytes()
    return names


@pytest.mark.slow
def test_the_native_wheel_builds_without_a_compiler(tmp_path: Path) -> None:
    """With no working C compiler the optional extension is skipped, the wheel still builds."""
    names = _native_wheel(tmp_path, CC="false")
    assert "aiconexus_native/__init__.py" in names
    assert not [name for name in names if name.endswith(".so")]
