"""Tool names for capability names: MCP allows ``[A-Za-z0-9._-]{1,128}``, capabilities more.

A capability whose name already fits is its tool's name (``echo`` -> ``echo``). Any other is
mapped: each character outside the allowed set becomes ``_``, the result is cut to 119
characters, and ``-`` plus the first 8 hex digits of the BLAKE2b-64 hash of the capability's
UTF-8 name is appended, so two capabilities that map alike still get distinct tools:

>>> tool_name("echo")
'echo'
>>> tool_name("translate/fr")
'translate_fr-354084c3'
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["MAX_TOOL_NAME", "TOOL_NAME", "tool_name"]

MAX_TOOL_NAME = 128
"""Longest tool name MCP allows."""
TOOL_NAME = re.compile(r"[A-Za-z0-9._-]{1,128}")
"""What MCP allows in a tool name (SEP-986)."""
_OUTSIDE = re.compile(r"[^A-Za-z0-9._-]")
_SUFFIX = 9  # "-" and 8 hex digits


def tool_name(capability: str) -> str:
    """The MCP tool name of ``capability`` (see the module)."""
    if TOOL_NAME.fullmatch(capability):
        return capability
    digest = hashlib.blake2b(capability.encode("utf-8"), digest_size=8).hexdigest()[:8]
    return _OUTSIDE.sub("_", capability)[: MAX_TOOL_NAME - _SUFFIX] + "-" + digest
