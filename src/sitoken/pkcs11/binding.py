"""The one binding to a PKCS#11 module: the spec's declarations, one function list per process.

``cryptoki.h`` (next to this file) is the only copy of the declarations. When the extension
``sitoken._native`` was built, its compiled ffi is used (cffi API mode) and the extension does
the ``dlopen`` and the ``C_GetFunctionList``; without it, cffi reads the same header and opens
the module itself (ABI mode, ``ffi.dlopen``). Either way ``C_GetFunctionList`` is called once per
module per process, and every part of sitoken (objects, PINs, token init, one-shot signing,
batches) calls through that one list. p11-kit's client and proxy modules need exactly that:
they hand out a new instance per ``C_GetFunctionList``, and a session opened through one
instance is unknown to another.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from .. import trace
from .._native_loader import extension_binding
from ..errors import ModuleLoadError
from .constants import CKR_OK, rv_name
from .errors import error_for_rv

T = TypeVar("T")
CRYPTOKI_H = Path(__file__).with_name("cryptoki.h")
#: Set to 1 to reach modules in ABI mode even when the extension is built (tests, diagnosis).
ABI_ENV = "SITOKEN_PKCS11_ABI"

#: Spec parameter names that carry a PIN, traced under the names sitoken.trace redacts.
_SECRET_PARAMETERS = {"pPin": "pin", "pOldPin": "old_pin", "pNewPin": "new_pin"}


@functools.cache
def abi_ffi() -> Any:
    """An ffi that knows the declarations, for ``ffi.dlopen`` (no compiler needed)."""
    import cffi

    ffi = cffi.FFI()
    ffi.cdef(CRYPTOKI_H.read_text(encoding="utf-8"))
    # The one exported symbol: everything else is reached through the function list.
    ffi.cdef("CK_RV C_GetFunctionList(CK_FUNCTION_LIST **ppFunctionList);")
    return ffi


def once_per_module(cache: dict[str, T], lock: threading.Lock, path: str, make: Callable[[str], T]) -> T:
    """``make(path)`` once per process for the module behind ``path`` (symlinks resolved)."""
    key = os.path.realpath(path)
    with lock:
        if key not in cache:
            cache[key] = make(path)
        return cache[key]


@functools.cache
def _parameters() -> dict[str, tuple[str, ...]]:
    """Each function's parameter names, read from the declarations (cffi does not keep them)."""
    found = re.findall(r"\(\*(C_\w+)\)\(([^)]*)\)", CRYPTOKI_H.read_text(encoding="utf-8"))
    return {
        name: tuple(_SECRET_PARAMETERS.get(p, p) for p in (a.split()[-1].lstrip("*") for a in params.split(",")))
        for name, params in found
    }


class _Arguments(Mapping[str, object]):
    """A call's arguments by their spec names, worked out only when a trace is written."""

    def __init__(self, function: str, args: tuple[Any, ...]) -> None:
        self._function, self._args = function, args

    def _names(self) -> tuple[str, ...]:
        names = _parameters().get(self._function, ())
        return tuple(names[i] if i < len(names) else f"arg{i}" for i in range(len(self._args)))

    def __getitem__(self, key: str) -> object:
        return self._args[self._names().index(key)]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._args)


def _abi_forced() -> bool:
    return os.environ.get(ABI_ENV, "").strip().lower() not in ("", "0", "false", "no")


class FunctionList:
    """One module's ``CK_FUNCTION_LIST``, fetched once per process and shared by every caller.

    ``generation`` counts re-initialisations (``C_Finalize`` + ``C_Initialize``): handles from
    an earlier generation are dead, and a session of one must not close a reused number.
    """

    _loaded: ClassVar[dict[str, FunctionList]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, path: str, ffi: Any, fl: Any, mode: str, keep: Any = None) -> None:
        self.path = path
        self.ffi = ffi
        self.fl = fl
        self.mode = mode  # "api" (the extension) or "abi" (ffi.dlopen)
        self.generation = 0
        self._keep = keep  # the ABI library object: it must outlive the function list
        self._functions: dict[str, Any] = {}

    @classmethod
    def load(cls, path: str) -> FunctionList:
        return once_per_module(cls._loaded, cls._lock, path, _open)

    def function(self, name: str) -> Any:
        """The C function pointer ``name`` of this module's list."""
        found = self._functions.get(name)
        if found is None:
            found = self._functions[name] = getattr(self.fl, name)
        return found

    def call(self, name: str, *args: Any) -> int:
        """Call ``name`` and return its CK_RV (cffi releases the GIL around the call).

        This is the one place sitoken calls a module from Python, so it is where each call is
        traced (``-vv``), its arguments named as in the specification and PINs redacted.
        """
        rv = int(self.function(name)(*args))
        trace.call("pkcs11", name, _Arguments(name, args), rv_name(rv))
        return rv

    def check(self, name: str, *args: Any) -> None:
        """Call ``name``; anything but CKR_OK leaves as the sitoken error for that code."""
        rv = self.call(name, *args)
        if rv != CKR_OK:
            raise error_for_rv(rv, name)

    def __repr__(self) -> str:
        return f"FunctionList({self.path!r}, {self.mode})"


def _open(path: str) -> FunctionList:
    binding = None if _abi_forced() else extension_binding()
    if binding is not None:
        return _open_api(path, *binding)
    return _open_abi(path)


def _open_api(path: str, ffi: Any, lib: Any) -> FunctionList:
    out = ffi.new("CK_FUNCTION_LIST **")
    rv = ffi.new("CK_RV *")
    errbuf = ffi.new("char[]", 512)
    status = lib.sitoken_module_load(os.fsencode(path), out, rv, errbuf, len(errbuf))
    if status != lib.SITOKEN_OK:
        detail = ffi.string(errbuf).decode("utf-8", "replace")
        code = int(rv[0]) if status == lib.SITOKEN_E_MODULE else None
        raise ModuleLoadError(f"cannot load PKCS#11 module {path}: {detail}", rv=code,
                              function="C_GetFunctionList" if code is not None else "dlopen")
    return FunctionList(path, ffi, out[0], "api")


def _open_abi(path: str) -> FunctionList:
    ffi = abi_ffi()
    try:
        lib = ffi.dlopen(path)
    except OSError as exc:
        raise ModuleLoadError(f"cannot load PKCS#11 module {path}: {exc}", function="dlopen") from None
    out = ffi.new("CK_FUNCTION_LIST **")
    try:
        rv = int(lib.C_GetFunctionList(out))
    except AttributeError:
        raise ModuleLoadError(f"cannot load PKCS#11 module {path}: no C_GetFunctionList",
                              function="dlopen") from None
    if rv != CKR_OK or out[0] == ffi.NULL:
        raise ModuleLoadError(f"cannot load PKCS#11 module {path}: C_GetFunctionList failed",
                              rv=rv, function="C_GetFunctionList")
    return FunctionList(path, ffi, out[0], "abi", keep=lib)
