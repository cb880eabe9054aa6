"""The duplicate memory on disk: which frames this identity acknowledged, across restarts.

A gateway may deliver a frame again after its recipient acknowledged it (the
acknowledgement was lost with a connection, or the gateway's store lost it in an outage).
The client drops such a copy by ``(from, id)``; this file makes that memory outlive the
process, so a copy arriving after a restart is not handed to user code a second time.

One JSON line per acknowledged frame, ``[expiry, from, id]`` (expiry in Unix seconds).
Bounded: entries expire after ``keep_s`` (the oldest frame the client accepts), and at most
``max_entries`` are kept; the file is rewritten, live entries only, when it is opened and
whenever it has grown to twice that. Lines that do not parse (a write cut short by a crash)
are skipped. Writes go to the operating system at once (no fsync): they survive the end
of the process, not a power cut.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections import deque
from collections.abc import Iterator
from pathlib import Path

__all__ = ["DEFAULT_MAX_ENTRIES", "ReceivedLog", "received_log_for"]

DEFAULT_MAX_ENTRIES = 10_000
"""Most frames the file remembers; older ones are forgotten first."""

MAX_LINE = 1024
"""Longer lines are not ours (a DID and an id take ~100 characters): skipped."""

_logger = logging.getLogger("aiconexus.client")


class ReceivedLog:
    """An append-only file of acknowledged ``(from, id)`` pairs; see the module docstring."""

    def __init__(
        self, path: str | os.PathLike[str], *, keep_s: float, max_entries: int = DEFAULT_MAX_ENTRIES
    ) -> None:
        if keep_s <= 0 or max_entries < 1:
            raise ValueError("keep_s and max_entries must be positive")
        self.path = Path(path)
        self.keep_s = keep_s
        self._entries: deque[tuple[float, str, str]] = deque(maxlen=max_entries)
        self._lines = 0
        self._file: int | None = None

    def open(self, now: float) -> Iterator[tuple[str, str]]:
        """Read the live entries (``now``: Unix seconds), rewrite the file with them, yield them."""
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            text = ""
        except OSError as exc:  # a directory, no permission...: kept in memory only
            _logger.warning("cannot read the duplicate memory %s: %s", self.path, exc)
            text = ""
        for line in text.splitlines():
            entry = _parse(line)
            if entry is not None and entry[0] > now:
                self._entries.append(entry)
        self._rewrite()
        return ((sender, message_id) for _, sender, message_id in list(self._entries))

    def add(self, sender: str, message_id: str, now: float) -> None:
        """Remember ``(sender, message_id)`` for ``keep_s`` from ``now`` (Unix seconds)."""
        entry = (now + self.keep_s, sender, message_id)
        self._entries.append(entry)
        if self._file is None:
            return
        if self._lines >= 2 * (self._entries.maxlen or 1):
            self._rewrite()
            return
        try:
            os.write(self._file, _line(entry))
            self._lines += 1
        except OSError as exc:
            _logger.warning("cannot write the duplicate memory %s: %s", self.path, exc)

    def close(self) -> None:
        """Close the file (entries added later are kept in memory only)."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                os.close(self._file)
            self._file = None

    def _rewrite(self) -> None:
        """Replace the file by the live entries, atomically, and append to it from now on."""
        self.close()
        temporary = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_bytes(b"".join(_line(entry) for entry in self._entries))
            os.chmod(temporary, 0o600)
            os.replace(temporary, self.path)
            self._file = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        except OSError as exc:
            _logger.warning("cannot write the duplicate memory %s: %s", self.path, exc)
            return
        self._lines = len(self._entries)


def _line(entry: tuple[float, str, str]) -> bytes:
    return (
        json.dumps([round(entry[0], 3), entry[1], entry[2]], separators=(",", ":")).encode() + b"\n"
    )


def _parse(line: str) -> tuple[float, str, str] | None:
    if len(line) > MAX_LINE:
        return None
    try:
        value = json.loads(line)
    except ValueError:
        return None
    if (
        isinstance(value, list)
        and len(value) == 3
        and isinstance(value[0], int | float)
        and isinstance(value[1], str)
        and isinstance(value[2], str)
    ):
        return float(value[0]), value[1], value[2]
    return None


def received_log_for(
    option: bool | str | os.PathLike[str], key_file: Path | None, *, keep_s: float
) -> ReceivedLog | None:
    """The file a client's ``duplicate_memory`` option names (None: memory only).

    True: ``<key file>.received`` beside the identity's ``key_file`` (None without one);
    a path: that file; False: none.
    """
    if option is False:
        return None
    if option is True:
        if key_file is None:
            return None
        option = key_file.with_name(key_file.name + ".received")
    return ReceivedLog(Path(option), keep_s=keep_s)
