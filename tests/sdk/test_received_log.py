"""The duplicate memory file: read back, expired, bounded, damaged lines skipped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiconexus._received_log import ReceivedLog


def test_entries_come_back_until_they_expire(tmp_path: Path) -> None:
    """What one log wrote, the next one reads back, until its time is up."""
    path = tmp_path / "key.received"
    log = ReceivedLog(path, keep_s=100.0)
    assert list(log.open(now=1000.0)) == []
    log.add("did:key:a", "1", now=1000.0)
    log.add("did:key:b", "2", now=1050.0)
    log.close()
    assert list(ReceivedLog(path, keep_s=100.0).open(now=1099.0)) == [
        ("did:key:a", "1"),
        ("did:key:b", "2"),
    ]
    assert list(ReceivedLog(path, keep_s=100.0).open(now=1120.0)) == [("did:key:b", "2")]
    assert path.stat().st_mode & 0o077 == 0


def test_the_file_is_bounded_and_damaged_lines_are_skipped(tmp_path: Path) -> None:
    """At most max_entries (the newest); the file is rewritten past twice that; junk is skipped."""
    path = tmp_path / "key.received"
    path.write_text('not json\n[1e12,"did:key:x"]\n' + "x" * 5000 + "\n", encoding="utf-8")
    log = ReceivedLog(path, keep_s=100.0, max_entries=3)
    assert list(log.open(now=0.0)) == []
    for n in range(10):
        log.add("did:key:a", str(n), now=0.0)
    log.close()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 6
    assert [json.loads(line)[2] for line in lines][-3:] == ["7", "8", "9"]
    assert [i for _, i in ReceivedLog(path, keep_s=100.0, max_entries=3).open(now=0.0)] == [
        "7",
        "8",
        "9",
    ]
    with pytest.raises(ValueError):
        ReceivedLog(path, keep_s=0)


@pytest.mark.parametrize("where", ["directory", "under_a_file"])
def test_an_unusable_path_is_kept_in_memory_with_a_warning(
    tmp_path: Path, where: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A path that is a directory, or lies under a file, warns; nothing raises."""
    if where == "directory":
        path = tmp_path / "agent.key.received"
        path.mkdir()
    else:
        (tmp_path / "plain").write_text("")
        path = tmp_path / "plain" / "agent.key.received"
    log = ReceivedLog(path, keep_s=60.0, max_entries=10)
    assert list(log.open(now=1000.0)) == []
    log.add("did:key:zA", "m1", now=1000.0)
    log.close()
    assert "cannot read the duplicate memory" in caplog.text
