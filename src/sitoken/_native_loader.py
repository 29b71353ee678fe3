"""Finds the optional cffi extension (sitoken._native) and says whether the native path is on."""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._version import __version__

#: Set to 1 to keep sitoken off the extension even when it is built (the pure-Python path runs).
DISABLE_ENV = "SITOKEN_NO_NATIVE"


@dataclass(frozen=True)
class NativeStatus:
    """Whether the native fast path is in use, and why (for ``sitoken doctor``)."""

    active: bool
    reason: str
    version: str | None

    def to_dict(self) -> dict[str, object]:
        return {"active": self.active, "reason": self.reason, "version": self.version}


@dataclass(frozen=True)
class _Import:
    ffi: Any
    lib: Any
    version: str | None
    problem: str | None  # None when the extension is importable and matches the package


def expected_build(declarations: bytes) -> str:
    """What a matching extension reports: the package version and a fingerprint of the
    declarations it was compiled from (the formula of native/build_native.py's build_id)."""
    return f"{__version__}+{hashlib.sha256(declarations).hexdigest()[:12]}"


def _installed_declarations() -> bytes:
    return (Path(__file__).resolve().parent / "pkcs11" / "cryptoki.h").read_bytes()


@functools.cache
def _import() -> _Import:
    try:
        from . import _native
    except ImportError as exc:
        return _Import(None, None, None, f"extension not built ({exc})")
    version = _native.ffi.string(_native.lib.sitoken_native_version()).decode("ascii")
    expected = expected_build(_installed_declarations())
    if version != expected:
        # A stale build next to newer Python code could disagree on the C interface;
        # refuse it loudly instead of calling into it (ABI mode serves meanwhile).
        problem = (
            f"stale extension: built as {version}, this package needs {expected} "
            "(reinstall: pip install -e .)"
        )
        return _Import(_native.ffi, _native.lib, version, problem)
    return _Import(_native.ffi, _native.lib, version, None)


def _disabled() -> bool:
    return os.environ.get(DISABLE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def native_status() -> NativeStatus:
    """Whether batch signing runs in C; read at each call, so the variable can change."""
    found = _import()
    if found.problem is not None:
        return NativeStatus(False, found.problem, found.version)
    if _disabled():
        return NativeStatus(False, f"disabled by {DISABLE_ENV}=1", found.version)
    return NativeStatus(True, "extension loaded", found.version)


def binding() -> tuple[Any, Any] | None:
    """``(ffi, lib)`` of the extension when the native path is active, else None."""
    if not native_status().active:
        return None
    found = _import()
    return found.ffi, found.lib


def extension_binding() -> tuple[Any, Any] | None:
    """``(ffi, lib)`` whenever a matching extension is built, even if the fast path is off.

    Module set-up (OS locking, C_InitToken) is not a speed matter: it uses the
    extension whenever it is there, whatever ``SITOKEN_NO_NATIVE`` says.
    """
    found = _import()
    return None if found.problem is not None else (found.ffi, found.lib)
