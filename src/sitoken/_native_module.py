"""One PKCS#11 module driven through sitoken._native: init, C_InitToken, login, batches."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any, ClassVar

from ._native_loader import extension_binding, native_status
from .errors import ModuleLoadError, NotSupported, PinIncorrect, PinLocked, Pkcs11Error, TokenError
from .pin import Pin

CKR_OK = 0x0
CKR_USER_ALREADY_LOGGED_IN = 0x100
CKU_SO = 0
CKU_USER = 1
_PIN_CODES: dict[int, type[TokenError]] = {0xA0: PinIncorrect, 0xA4: PinLocked}


def ck_error(rv: int, function: str, what: str = "the token refused the operation") -> TokenError:
    """A sitoken error that keeps the CK_RV and the C function, as the driver's errors do."""
    cls = _PIN_CODES.get(rv, Pkcs11Error)
    return cls(f"{what} ({function}: 0x{rv:X})", rv=rv, function=function)


@dataclass(frozen=True)
class NativeTokenInfo:
    """The few CK_TOKEN_INFO fields the native layer reads for itself."""

    label: str
    serial: str
    flags: int


class NativeModule:
    """A PKCS#11 module opened by the extension; one object per library path per process.

    The dlopen handle is the one python-pkcs11 holds for the same path, so both
    see one PKCS#11 state: a re-initialisation here affects python-pkcs11 too.
    """

    _opened: ClassVar[dict[str, NativeModule]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, path: str, ffi: Any, lib: Any) -> None:
        self.path = path
        self.ffi = ffi
        self.lib = lib
        out = ffi.new("sitoken_module **")
        errbuf = ffi.new("char[]", 512)
        rv = lib.sitoken_module_open(os.fsencode(path), out, errbuf, len(errbuf))
        if rv != CKR_OK:
            detail = ffi.string(errbuf).decode("utf-8", "replace")
            raise ModuleLoadError(
                f"cannot load PKCS#11 module {path}: {detail}", rv=rv, function="dlopen"
            )
        self.handle = out[0]

    @classmethod
    def open(cls, path: str) -> NativeModule:
        """The module at ``path``; the extension must be built (``SITOKEN_NO_NATIVE`` aside)."""
        binding = extension_binding()
        if binding is None:
            raise NotSupported(f"native extension unavailable: {native_status().reason}")
        key = os.path.realpath(path)
        with cls._lock:
            if key not in cls._opened:
                cls._opened[key] = cls(path, *binding)
            return cls._opened[key]

    @property
    def os_locking(self) -> bool:
        """True once sitoken itself initialised the module with CKF_OS_LOCKING_OK."""
        return bool(self.lib.sitoken_module_os_locking(self.handle))

    def initialize(self) -> bool:
        """C_Initialize with OS locking; False when the module was already initialised."""
        already = self.ffi.new("int *")
        self._check(self.lib.sitoken_module_initialize(self.handle, already), "C_Initialize")
        return not already[0]

    def reinitialize_os_locking(self) -> None:
        """C_Finalize, then C_Initialize with OS locking. Call it before any session exists:
        finalising closes every session of the process (python-pkcs11's too)."""
        rv = self.lib.sitoken_module_reinitialize_os_locking(self.handle)
        self._check(rv, "C_Initialize")

    def finalize(self) -> None:
        self._check(self.lib.sitoken_module_finalize(self.handle), "C_Finalize")

    def function_list_check(self) -> int:
        """0 when every function-list slot matches the module's exported symbol."""
        return int(self.lib.sitoken_function_list_check(self.handle))

    def token_info(self, slot_id: int) -> NativeTokenInfo:
        info = self.ffi.new("CK_TOKEN_INFO *")
        self._check(self.lib.sitoken_get_token_info(self.handle, slot_id, info), "C_GetTokenInfo")
        return NativeTokenInfo(
            label=_text(self.ffi.buffer(info.label)[:]),
            serial=_text(self.ffi.buffer(info.serialNumber)[:]),
            flags=int(info.flags),
        )

    def init_token(self, slot_id: int, so_pin: Pin, label: str) -> None:
        """C_InitToken; the C side wipes the PIN bytes in the Pin's own buffer."""
        raw_label = label.encode("utf-8")
        if len(raw_label) > 32:
            raise ValueError("a token label is at most 32 bytes")
        buf = so_pin.buffer()
        with self.ffi.from_buffer("unsigned char[]", buf, require_writable=True) as pin_c:
            rv = self.lib.sitoken_init_token(
                self.handle, slot_id, pin_c, len(buf), raw_label.ljust(32, b" ")
            )
        so_pin.wipe()
        self._check(rv, "C_InitToken")

    def login(self, slot_id: int, pin: Pin, user_type: int = CKU_USER) -> int:
        """Log in and return the session that holds the login (close it with :meth:`logout`)."""
        session = self.ffi.new("CK_SESSION_HANDLE *")
        buf = pin.buffer()
        with self.ffi.from_buffer("unsigned char[]", buf, require_writable=True) as pin_c:
            rv = self.lib.sitoken_login(self.handle, slot_id, user_type, pin_c, len(buf), session)
        pin.wipe()
        if rv not in (CKR_OK, CKR_USER_ALREADY_LOGGED_IN):
            raise ck_error(rv, "C_Login")
        return int(session[0])

    def logout(self, session: int) -> None:
        self._check(self.lib.sitoken_logout(self.handle, session), "C_Logout")

    def _check(self, rv: int, function: str) -> None:
        if rv != CKR_OK:
            raise ck_error(rv, function)


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").rstrip(" \x00")
