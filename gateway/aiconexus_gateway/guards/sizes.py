"""Frame sizes measured as the limits count them: UTF-8 bytes, encoding only when needed."""

from __future__ import annotations

__all__ = ["utf8_length_over"]


def utf8_length_over(text: str, limit: int) -> bool:
    """True if ``text`` takes more than ``limit`` bytes as UTF-8 (encoding only if needed)."""
    if len(text) > limit:
        return True
    if 4 * len(text) <= limit:
        return False
    return len(text.encode("utf-8", "surrogatepass")) > limit
