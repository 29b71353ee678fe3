"""Build hook for the optional native fast path (sitoken._native, cffi API mode).

Everything else about the package lives in pyproject.toml. The extension is optional:
without a working C compiler (or Python headers) the package still installs, and
sitoken signs through the pure-Python path (see docs/native.md).
"""

from __future__ import annotations

import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, CompileError, ExecError, LinkError, PlatformError

# Failures that mean "no usable compiler here", as opposed to a bug in the build script.
_NO_COMPILER: tuple[type[BaseException], ...] = (
    CCompilerError, CompileError, ExecError, LinkError, PlatformError, OSError,
)


def _warn(ext_name: str, exc: BaseException) -> None:
    sys.stderr.write(
        f"WARNING: the optional extension {ext_name} was not built ({exc}); "
        "sitoken will use its pure-Python signing path.\n"
    )


class OptionalBuildExt(build_ext):
    """build_ext that skips an extension it cannot compile instead of failing the install."""

    def run(self) -> None:
        try:
            super().run()
        except _NO_COMPILER as exc:
            _warn("sitoken._native", exc)

    def build_extension(self, ext) -> None:  # type: ignore[no-untyped-def]
        try:
            super().build_extension(ext)
        except _NO_COMPILER as exc:
            _warn(ext.name, exc)

    def get_outputs(self) -> list[str]:
        # An editable install copies every listed output; list only what was built.
        import os

        return [path for path in super().get_outputs() if os.path.exists(path)]


setup(
    cmdclass={"build_ext": OptionalBuildExt},
    cffi_modules=["native/build_native.py:ffibuilder"],
)
