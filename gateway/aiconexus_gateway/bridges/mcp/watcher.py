"""The tools of the directory, followed: the current :class:`Catalog` and word of its changes.

:class:`ToolWatcher` is the bridges' :class:`~..directory.DirectoryWatcher` (change events,
with a poll as the fallback) that turns each listing into the tool catalog: a new agent's
tools are listed (and ``tools/list_changed`` sent) a moment after it registers. Its
listeners and :meth:`~..directory.DirectoryWatcher.wait_for_change` hear of changes of the
tools only (names, descriptions, schemas), not of every change of the directory.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from aiconexus import AgentInfo

from ..directory import DirectoryWatcher
from .catalog import Catalog

__all__ = ["ToolWatcher"]


class ToolWatcher(DirectoryWatcher):
    """Follows the gateway's directory and keeps its tool catalog (see the module).

    ``options``: those of :class:`~..directory.DirectoryWatcher` (``interval_s``,
    ``agents_token``, ``events`` ...).
    """

    def __init__(self, gateway_url: str, **options: Any) -> None:
        options.setdefault("logger", logging.getLogger("aiconexus_gateway.bridges.mcp"))
        super().__init__(gateway_url, **options)
        self.catalog = Catalog()

    def adopt(self, agents: Iterable[AgentInfo]) -> bool:
        """Take a new listing; True when the tools changed."""
        listed = list(agents)
        super().adopt(listed)
        catalog = Catalog(listed)
        catalog.adopt_turns(self.catalog)
        changed = catalog.signature() != self.catalog.signature()
        self.catalog = catalog
        return changed
