"""Finding, loading and safely initialising PKCS#11 modules."""

from __future__ import annotations

import glob
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pkcs11

from ..errors import ModuleLoadError
from .ckapi import CkApi, RawTokenInfo
from .constants import CKR_BY_NAME, CKR_OK, TokenFlag
from .errors import ck_call, error_for_rv, rv_of, translate
from .softhsm import active_store_conf, softhsm_module

#: Module names sitoken knows without p11-kit's help.
KNOWN_MODULES: dict[str, Callable[[], str | None]] = {
    "softhsm": softhsm_module,
    "opensc": lambda: _first_existing(
        "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so",
        "/usr/lib/x86_64-linux-gnu/pkcs11/opensc-pkcs11.so",
        "/usr/lib/aarch64-linux-gnu/opensc-pkcs11.so",
        "/usr/lib/opensc-pkcs11.so",
    ),
}
P11KIT_DIRS = ("/usr/share/p11-kit/modules", "/etc/pkcs11/modules")
P11KIT_LIBDIRS = ("/usr/lib/x86_64-linux-gnu/pkcs11", "/usr/lib/aarch64-linux-gnu/pkcs11", "/usr/lib/pkcs11")


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

    A spec is a path, or a name: ``softhsm``, ``opensc``, a p11-kit module name,
    or ``sim`` (SoftHSM on sitoken's own store).
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


class Module:
    """One loaded PKCS#11 module, initialised with ``CKF_OS_LOCKING_OK``.

    There is one Module per library path per process: PKCS#11 state is global
    to the process, so loading twice would only share it anyway.
    """

    _loaded: ClassVar[dict[str, Module]] = {}
    _lock = threading.Lock()

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self.lib = pkcs11.lib(path)
        except pkcs11.PKCS11Error as exc:
            if rv_of(exc) is None:  # dlopen or symbol lookup failed: no CK_RV to keep
                raise ModuleLoadError(f"cannot load PKCS#11 module {path}: {exc}") from None
            raise translate(exc, "C_Initialize") from None
        self.ck = CkApi(path)
        # python-pkcs11 initialised with NULL arguments; redo it with OS locking
        # before any session exists, so that threads are safe (PERF-BASELINE.md §4).
        rv = self.ck.reinitialize_os_locking()
        if rv != CKR_OK:
            raise error_for_rv(rv, "C_Initialize")
        self.os_locking = True

    def reinitialize(self) -> None:
        """C_Finalize and C_Initialize again (OS locking): every session and login is gone.

        The module forgets what it cached about its tokens (OpenSC: card bindings, PIN
        cache) and re-reads its configuration from the environment (``OPENSC_CONF``).
        Close every ``Pkcs11Token`` of this module first: their handles die here.
        """
        with self._lock:
            rv = self.ck.reinitialize_os_locking()
        if rv != CKR_OK:
            raise error_for_rv(rv, "C_Initialize")

    @classmethod
    def load(cls, path: str) -> Module:
        key = os.path.realpath(path)
        with cls._lock:
            if key not in cls._loaded:
                cls._loaded[key] = cls(path)
            return cls._loaded[key]

    @property
    def description(self) -> dict[str, object]:
        return {
            "path": self.path,
            "manufacturer": self.lib.manufacturer_id,
            "description": self.lib.library_description,
            "library_version": "{}.{}".format(*self.lib.library_version),
            "cryptoki_version": "{}.{}".format(*self.lib.cryptoki_version),
            "os_locking": self.os_locking,
        }

    def token_infos(self, *, include_uninitialized: bool = False) -> list[RawTokenInfo]:
        rv, slots = self.ck.slot_ids(token_present=True)
        if rv != CKR_OK:
            raise error_for_rv(rv, "C_GetSlotList")
        infos = []
        for slot in slots:
            rv, info = self.ck.token_info(slot)
            if rv != CKR_OK or info is None:
                # A token pulled out between the two calls is simply not listed.
                continue
            if include_uninitialized or info.flags & TokenFlag.TOKEN_INITIALIZED:
                infos.append(info)
        return infos

    def slot(self, slot_id: int) -> pkcs11.Slot:
        with ck_call("C_GetSlotList"):
            for slot in self.lib.get_slots(token_present=True):
                if slot.slot_id == slot_id:
                    return slot
        raise error_for_rv(CKR_BY_NAME["CKR_TOKEN_NOT_PRESENT"], "C_GetSlotList")

    def init_token(self, slot_id: int, so_pin: bytearray, label: str) -> None:
        rv = self.ck.init_token(slot_id, so_pin, label)
        if rv != CKR_OK:
            raise error_for_rv(rv, "C_InitToken")

    def __repr__(self) -> str:
        return f"Module({self.path!r})"

