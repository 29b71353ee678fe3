"""cffi build script for sitoken._native (API mode); setup.py names it in ``cffi_modules``."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
HEADER = HERE / "sitoken_native.h"
SOURCE = HERE / "sitoken_native.c"
# The PKCS#11 declarations live with the package, which reads them for ABI mode too.
CRYPTOKI_DIR = ROOT / "src" / "sitoken" / "pkcs11"
CRYPTOKI = CRYPTOKI_DIR / "cryptoki.h"
VERSION_FILE = ROOT / "src" / "sitoken" / "_version.py"

# The C code is held to this; a warning is a bug. SITOKEN_NATIVE_CFLAGS adds flags (the
# AddressSanitizer build of the test suite).
COMPILE_ARGS = ["-std=gnu11", "-O2", "-Wall", "-Wextra", *os.environ.get("SITOKEN_NATIVE_CFLAGS", "").split()]


def package_version() -> str:
    """The version compiled into the extension; the loader refuses any other."""
    text = VERSION_FILE.read_text(encoding="utf-8")
    found = re.search(r"""__version__\s*=\s*["']([^"']+)["']""", text)
    if not found:
        raise RuntimeError(f"no __version__ in {VERSION_FILE}")
    return found.group(1)


def build_id() -> str:
    """Version and fingerprint of the declarations, compiled in; the loader computes the same.

    The fingerprint catches a stale build whose version did not change but whose declarations
    did (an extension built before cryptoki.h grew a type would fail inside cffi). The loader
    cannot import this script, so it repeats the formula: sha256 of cryptoki.h, 12 hex digits.
    """
    digest = hashlib.sha256(CRYPTOKI.read_bytes()).hexdigest()[:12]
    return f"{package_version()}+{digest}"


def _relative(path: Path) -> str:
    # setuptools wants sources relative to the project root, where pip runs setup.py; a build
    # into another directory (the suite's AddressSanitizer build) sets SITOKEN_NATIVE_ABSOLUTE.
    if os.environ.get("SITOKEN_NATIVE_ABSOLUTE"):
        return str(path)
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive (Windows): keep it absolute
        return str(path)


ffibuilder = FFI()
ffibuilder.cdef(CRYPTOKI.read_text(encoding="utf-8") + HEADER.read_text(encoding="utf-8"))
ffibuilder.set_source(
    "sitoken._native",
    # The cdef headers have no #include of their own, so size_t comes first.
    '#include <stddef.h>\n#include "cryptoki.h"\n#include "sitoken_native.h"\n',
    sources=[_relative(SOURCE)],
    include_dirs=[_relative(HERE), _relative(CRYPTOKI_DIR)],
    define_macros=[("SITOKEN_VERSION", f'"{build_id()}"')],
    libraries=["dl", "pthread"],
    extra_compile_args=COMPILE_ARGS,
    extra_link_args=os.environ.get("SITOKEN_NATIVE_LDFLAGS", "").split(),
    # Without a compiler the package still installs (setup.py warns; Python path is used).
    optional=True,
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
