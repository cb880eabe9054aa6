"""Types of the compiled cffi module (see _build.py)."""

from typing import Any

ffi: Any
lib: Any
