"""cffi build script for sitoken._native (API mode); setup.py names it in ``cffi_modules``."""

from __future__ import annotations

import os
import re
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
HEADER = HERE / "sitoken_native.h"
SOURCE = HERE / "sitoken_native.c"
VERSION_FILE = ROOT / "src" / "sitoken" / "_version.py"

# The C code is held to this; a warning is a bug.
COMPILE_ARGS = ["-std=gnu11", "-O2", "-Wall", "-Wextra"]


def package_version() -> str:
    """The version compiled into the extension; the loader refuses any other."""
    text = VERSION_FILE.read_text(encoding="utf-8")
    found = re.search(r"""__version__\s*=\s*["']([^"']+)["']""", text)
    if not found:
        raise RuntimeError(f"no __version__ in {VERSION_FILE}")
    return found.group(1)


def _relative(path: Path) -> str:
    # setuptools wants sources relative to the project root, where pip runs setup.py.
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive (Windows): keep it absolute
        return str(path)


ffibuilder = FFI()
ffibuilder.cdef(HEADER.read_text(encoding="utf-8"))
ffibuilder.set_source(
    "sitoken._native",
    # The cdef header has no #include of its own, so size_t comes first.
    '#include <stddef.h>\n#include "sitoken_native.h"\n',
    sources=[_relative(SOURCE)],
    include_dirs=[_relative(HERE)],
    define_macros=[("SITOKEN_VERSION", f'"{package_version()}"')],
    libraries=["dl", "pthread"],
    extra_compile_args=COMPILE_ARGS,
    # Without a compiler the package still installs (setup.py warns; Python path is used).
    optional=True,
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
