"""Console scripts of the bridges, importable without their extras (which they name)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["a2a_main"]


def a2a_main(argv: Sequence[str] | None = None) -> int:
    """``aiconexus-a2a-bridge``: the standalone A2A bridge (needs the a2a extra)."""
    try:
        from .a2a.cli import main
    except ImportError as exc:
        print(f"aiconexus-a2a-bridge: {exc}", file=sys.stderr)
        return 2
    return main(argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(a2a_main())
