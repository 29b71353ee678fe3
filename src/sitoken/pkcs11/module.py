"""Finding, loading and safely initialising PKCS#11 modules."""

from __future__ import annotations

import glob
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ..errors import ModuleLoadError
from .binding import FunctionList, once_per_module
from .constants import (
    CKF_OS_LOCKING_OK,
    CKR_BUFFER_TOO_SMALL,
    CKR_CRYPTOKI_ALREADY_INITIALIZED,
    CKR_CRYPTOKI_NOT_INITIALIZED,
    CKR_OK,
    TokenFlag,
)
from .errors import error_for_rv, length_error
from .session import Session
from .softhsm import active_store_conf, softhsm_module

P11KIT_DIRS = ("/usr/share/p11-kit/modules", "/etc/pkcs11/modules")
P11KIT_LIBDIRS = ("/usr/lib/x86_64-linux-gnu/pkcs11", "/usr/lib/aarch64-linux-gnu/pkcs11", "/usr/lib/pkcs11")

#: Module names sitoken knows without p11-kit's help.
KNOWN_MODULES: dict[str, Callable[[], str | None]] = {
    "softhsm": softhsm_module,
    "opensc": lambda: _first_existing(
        "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so",
        "/usr/lib/x86_64-linux-gnu/pkcs11/opensc-pkcs11.so",
        "/usr/lib/aarch64-linux-gnu/opensc-pkcs11.so",
        "/usr/lib/opensc-pkcs11.so",
    ),
    # p11-kit's own modules are not registered with p11-kit, so they get names here (remote-tokens.md):
    # the client of a `p11-kit server` (Debian p11-kit-modules) and the proxy of every registered
    # module, `remote:` ones included (Debian p11-kit).
    "p11-kit-client": lambda: _first_existing(*(os.path.join(d, "p11-kit-client.so") for d in P11KIT_LIBDIRS)),
    "p11-kit-proxy": lambda: _first_existing(
        "/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so",
        "/usr/lib/aarch64-linux-gnu/p11-kit-proxy.so",
        "/usr/lib/p11-kit-proxy.so",
    ),
}


@dataclass(frozen=True)
class ModuleChoice:
    """Which module to load, and why."""

    path: str
    name: str
    source: str  # "option", "SITOKEN_MODULE", "discovered", "simulated"

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "name": self.name, "source": self.source}


def _first_existing(*paths: str) -> str | None:
    return next((p for p in paths if os.path.exists(p)), None)


def p11kit_modules() -> dict[str, str]:
    """Modules registered with p11-kit: name -> library path."""
    found: dict[str, str] = {}
    for directory in P11KIT_DIRS:
        for conf in sorted(glob.glob(os.path.join(directory, "*.module"))):
            lib = _p11kit_library(Path(conf))
            if lib:
                found.setdefault(Path(conf).stem, lib)
    return found


def _p11kit_library(conf: Path) -> str | None:
    for line in conf.read_text(errors="replace").splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "module" and value.strip():
            value = value.strip()
            if os.path.isabs(value):
                return value if os.path.exists(value) else None
            return _first_existing(*(os.path.join(d, value) for d in P11KIT_LIBDIRS))
    return None


def discover_modules() -> list[ModuleChoice]:
    """Every module sitoken can find on this machine."""
    seen: dict[str, ModuleChoice] = {}
    for name, locate in KNOWN_MODULES.items():
        path = locate()
        if path:
            seen.setdefault(os.path.realpath(path), ModuleChoice(path, name, "discovered"))
    for name, path in p11kit_modules().items():
        seen.setdefault(os.path.realpath(path), ModuleChoice(path, name, "p11-kit"))
    return list(seen.values())


def resolve_module(spec: str | None) -> ModuleChoice:
    """``--module`` value, then ``SITOKEN_MODULE``, else the simulated token store.

    A spec is a path, or a name: ``softhsm``, ``opensc``, ``p11-kit-client``, ``p11-kit-proxy``,
    a p11-kit module name, or ``sim`` (SoftHSM on sitoken's own store).
    """
    source = "option"
    if spec is None:
        spec, source = os.environ.get("SITOKEN_MODULE") or "sim", "SITOKEN_MODULE"
    if spec == "sim":
        return _simulated()
    if os.sep in spec or spec.endswith(".so"):
        if not os.path.exists(spec):
            raise ModuleLoadError(f"PKCS#11 module not found: {spec}")
        return ModuleChoice(spec, Path(spec).stem, source)
    locate = KNOWN_MODULES.get(spec)
    path = locate() if locate else p11kit_modules().get(spec)
    if not path:
        raise ModuleLoadError(
            f"no PKCS#11 module named {spec!r} on this machine "
            "(see 'sitoken doctor' for the modules found)"
        )
    return ModuleChoice(path, spec, source)


def _simulated() -> ModuleChoice:
    path = softhsm_module()
    if path is None:
        raise ModuleLoadError(
            "no module configured and SoftHSM is not installed for the simulated token "
            "(install the Debian package softhsm2, or pass --module PATH)"
        )
    active_store_conf()
    return ModuleChoice(path, "softhsm", "simulated")


@dataclass(frozen=True)
class RawTokenInfo:
    """CK_TOKEN_INFO with the padding stripped."""

    slot_id: int
    label: str
    manufacturer: str
    model: str
    serial: str
    flags: int
    min_pin_len: int
    max_pin_len: int


class Module:
    """One loaded PKCS#11 module, initialised by sitoken with ``CKF_OS_LOCKING_OK``.

    There is one Module per library path per process, on the one function list of that
    module (``FunctionList``): PKCS#11 state is global to the process.
    """

    _loaded: ClassVar[dict[str, Module]] = {}
    _lock = threading.Lock()

    def __init__(self, path: str) -> None:
        self.path = path
        self.functions = FunctionList.load(path)
        self.ffi = self.functions.ffi
        self._initialize()
        self.os_locking = True

    def _initialize(self) -> None:
        args = self.ffi.new("CK_C_INITIALIZE_ARGS *")
        # No mutex callbacks: the module uses the OS primitives. SoftHSM keeps its internal
        # locks on only when it is given arguments like these (PERF-BASELINE.md §4).
        args.flags = CKF_OS_LOCKING_OK
        rv = self.functions.call("C_Initialize", args)
        if rv == CKR_CRYPTOKI_ALREADY_INITIALIZED:
            # Someone else in this process initialised it, with arguments unknown to us: do it
            # again our way, before any session of ours exists.
            self._finalize()
            rv = self.functions.call("C_Initialize", args)
        if rv != CKR_OK:
            raise error_for_rv(rv, "C_Initialize")

    def _finalize(self) -> None:
        rv = self.functions.call("C_Finalize", self.ffi.NULL)
        self.functions.generation += 1
        if rv not in (CKR_OK, CKR_CRYPTOKI_NOT_INITIALIZED):
            raise error_for_rv(rv, "C_Finalize")

    def reinitialize(self) -> None:
        """C_Finalize and C_Initialize again (OS locking): every session and login is gone.

        The module forgets what it cached about its tokens (OpenSC: card bindings, PIN
        cache) and re-reads its configuration from the environment (``OPENSC_CONF``).
        Close every ``Pkcs11Token`` of this module first: their handles die here.
        """
        with self._lock:
            self._finalize()
            self._initialize()

    @classmethod
    def load(cls, path: str) -> Module:
        return once_per_module(cls._loaded, cls._lock, path, cls)

    @property
    def description(self) -> dict[str, object]:
        info = self.ffi.new("CK_INFO *")
        self.functions.check("C_GetInfo", info)
        return {
            "path": self.path,
            "manufacturer": _text(self.ffi, info.manufacturerID),
            "description": _text(self.ffi, info.libraryDescription),
            "library_version": f"{info.libraryVersion.major}.{info.libraryVersion.minor}",
            "cryptoki_version": f"{info.cryptokiVersion.major}.{info.cryptokiVersion.minor}",
            "os_locking": self.os_locking,
            "binding": self.functions.mode,
        }

    @property
    def manufacturer(self) -> str:
        """CK_INFO.manufacturerID: what vendor profiles are chosen by."""
        return str(self.description["manufacturer"])

    def slot_ids(self, *, token_present: bool = True) -> list[int]:
        """C_GetSlotList: sizes first, and a count larger than the buffer is refused."""
        return self._counted("C_GetSlotList", "CK_SLOT_ID[]", 1 if token_present else 0)

    def mechanism_list(self, slot_id: int) -> list[int]:
        return self._counted("C_GetMechanismList", "CK_MECHANISM_TYPE[]", slot_id)

    def _counted(self, function: str, ctype: str, first: int) -> list[int]:
        count = self.ffi.new("CK_ULONG *")
        for _ in range(4):  # slots can appear between the two calls: ask again
            self.functions.check(function, first, self.ffi.NULL, count)
            size = int(count[0])
            items = self.ffi.new(ctype, max(size, 1))
            rv = self.functions.call(function, first, items, count)
            if rv == CKR_BUFFER_TOO_SMALL:
                continue
            if rv != CKR_OK:
                raise error_for_rv(rv, function)
            if count[0] > size:
                raise length_error(function, int(count[0]), size, "entries")
            return [int(items[i]) for i in range(count[0])]
        raise error_for_rv(CKR_BUFFER_TOO_SMALL, function)

    def token_info(self, slot_id: int) -> tuple[int, RawTokenInfo | None]:
        """C_GetTokenInfo: (CK_RV, the info when the call succeeded)."""
        info = self.ffi.new("CK_TOKEN_INFO *")
        rv = self.functions.call("C_GetTokenInfo", slot_id, info)
        if rv != CKR_OK:
            return rv, None
        ffi = self.ffi
        return CKR_OK, RawTokenInfo(
            slot_id=slot_id,
            label=_text(ffi, info.label),
            manufacturer=_text(ffi, info.manufacturerID),
            model=_text(ffi, info.model),
            serial=_text(ffi, info.serialNumber),
            flags=int(info.flags),
            min_pin_len=int(info.ulMinPinLen),
            max_pin_len=int(info.ulMaxPinLen),
        )

    def token_infos(self, *, include_uninitialized: bool = False) -> list[RawTokenInfo]:
        return list(self.each_token_info(include_uninitialized=include_uninitialized))

    def each_token_info(self, *, include_uninitialized: bool = False,
                        slots: Iterable[int] | None = None) -> Iterator[RawTokenInfo]:
        """The tokens in ``slots`` (default: every slot with a token, in slot order), one
        C_GetTokenInfo each, as they are asked for: a caller that stops early calls no more."""
        for slot in self.slot_ids(token_present=True) if slots is None else slots:
            rv, info = self.token_info(slot)
            if rv != CKR_OK or info is None:
                # A token pulled out between the two calls is simply not listed.
                continue
            if include_uninitialized or info.flags & TokenFlag.TOKEN_INITIALIZED:
                yield info

    def open_session(self, slot_id: int, *, rw: bool = True) -> Session:
        return Session(self.functions, slot_id, rw=rw)

    def init_token(self, slot_id: int, so_pin: bytearray, label: str) -> None:
        """C_InitToken; the label is blank-padded to 32 bytes as the spec wants."""
        raw_label = label.encode("utf-8")
        if len(raw_label) > 32:
            raise ValueError("label longer than 32 bytes")
        ffi = self.ffi
        pin = ffi.from_buffer("CK_UTF8CHAR[]", so_pin) if so_pin else ffi.NULL
        padded = ffi.new("CK_UTF8CHAR[32]", raw_label.ljust(32, b" "))
        self.functions.check("C_InitToken", slot_id, pin, len(so_pin), padded)

    def __repr__(self) -> str:
        return f"Module({self.path!r})"


def _text(ffi: Any, field: Any) -> str:
    """A blank-padded CK_UTF8CHAR[] field as text."""
    return bytes(ffi.buffer(field)).decode("utf-8", errors="replace").rstrip(" \x00")
