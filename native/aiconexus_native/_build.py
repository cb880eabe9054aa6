"""cffi build script (API mode) of ``aiconexus_native._ed25519_batch``, run by setup.py.

The extension is compiled against libsodium at install time. It is optional: without a C
compiler or libsodium's headers the build skips it with a warning and the distribution
installs without it (the gateway then verifies with PyNaCl). With
``AICONEXUS_NATIVE_STATIC_SODIUM`` set to the path of ``libsodium.a``, libsodium is linked into
the extension (the container image does this, so its runtime stage needs no libsodium).
"""

from __future__ import annotations

import os
from pathlib import Path

from cffi import FFI

CDEF = """
int aiconexus_init(void);
void aiconexus_verify_batch(size_t n, const unsigned char *keys,
                            const unsigned char *signatures,
                            const unsigned char *messages, const size_t *lengths,
                            unsigned char *verdicts);
"""


def _link_options() -> dict[str, object]:
    static = os.environ.get("AICONEXUS_NATIVE_STATIC_SODIUM", "")
    if static:
        # libsodium's symbols stay private to the extension
        return {"extra_objects": [static], "extra_link_args": ["-Wl,--exclude-libs,ALL"]}
    return {"libraries": ["sodium"]}


ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source(
    "aiconexus_native._ed25519_batch",
    (Path(__file__).resolve().parent / "_ed25519_batch.c").read_text(encoding="utf-8"),
    optional=True,
    **_link_options(),
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
