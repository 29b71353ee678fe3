"""A ctypes view of the few PKCS#11 calls python-pkcs11 cannot make.

python-pkcs11 always calls ``C_Initialize(NULL)`` (under which SoftHSM turns
its mutexes off and crashes with two threads), has no ``C_InitToken``, and
does not expose the PIN length range of ``CK_TOKEN_INFO``. This module reaches
the same loaded module (``dlopen`` returns the same handle) through its
function list and does exactly those calls, with types declared from the spec.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

from .. import trace
from ..errors import ModuleLoadError
from .constants import CKF_OS_LOCKING_OK, CKR_CRYPTOKI_NOT_INITIALIZED, CKR_OK, rv_name

CK_ULONG = ctypes.c_ulong
CK_RV = CK_ULONG
CK_SLOT_ID = CK_ULONG
CK_VOID_P = ctypes.c_void_p


class CK_VERSION(ctypes.Structure):
    _fields_ = [("major", ctypes.c_ubyte), ("minor", ctypes.c_ubyte)]


class CK_C_INITIALIZE_ARGS(ctypes.Structure):
    _fields_ = [
        ("CreateMutex", CK_VOID_P),
        ("DestroyMutex", CK_VOID_P),
        ("LockMutex", CK_VOID_P),
        ("UnlockMutex", CK_VOID_P),
        ("flags", CK_ULONG),
        ("pReserved", CK_VOID_P),
    ]


class CK_TOKEN_INFO(ctypes.Structure):
    _fields_ = [
        ("label", ctypes.c_char * 32),
        ("manufacturerID", ctypes.c_char * 32),
        ("model", ctypes.c_char * 16),
        ("serialNumber", ctypes.c_char * 16),
        ("flags", CK_ULONG),
        ("ulMaxSessionCount", CK_ULONG),
        ("ulSessionCount", CK_ULONG),
        ("ulMaxRwSessionCount", CK_ULONG),
        ("ulRwSessionCount", CK_ULONG),
        ("ulMaxPinLen", CK_ULONG),
        ("ulMinPinLen", CK_ULONG),
        ("ulTotalPublicMemory", CK_ULONG),
        ("ulFreePublicMemory", CK_ULONG),
        ("ulTotalPrivateMemory", CK_ULONG),
        ("ulFreePrivateMemory", CK_ULONG),
        ("hardwareVersion", CK_VERSION),
        ("firmwareVersion", CK_VERSION),
        ("utcTime", ctypes.c_char * 16),
    ]


_INITIALIZE = ctypes.CFUNCTYPE(CK_RV, CK_VOID_P)
_FINALIZE = ctypes.CFUNCTYPE(CK_RV, CK_VOID_P)
_GET_SLOT_LIST = ctypes.CFUNCTYPE(CK_RV, ctypes.c_ubyte, ctypes.POINTER(CK_SLOT_ID), ctypes.POINTER(CK_ULONG))
_GET_TOKEN_INFO = ctypes.CFUNCTYPE(CK_RV, CK_SLOT_ID, ctypes.POINTER(CK_TOKEN_INFO))
_INIT_TOKEN = ctypes.CFUNCTYPE(CK_RV, CK_SLOT_ID, ctypes.c_char_p, CK_ULONG, ctypes.c_char_p)
_INIT_PIN = ctypes.CFUNCTYPE(CK_RV, CK_ULONG, ctypes.c_char_p, CK_ULONG)
_SET_PIN = ctypes.CFUNCTYPE(CK_RV, CK_ULONG, ctypes.c_char_p, CK_ULONG, ctypes.c_char_p, CK_ULONG)
_OPEN_SESSION = ctypes.CFUNCTYPE(
    CK_RV, CK_SLOT_ID, CK_ULONG, CK_VOID_P, CK_VOID_P, ctypes.POINTER(CK_ULONG)
)
_CLOSE_SESSION = ctypes.CFUNCTYPE(CK_RV, CK_ULONG)
_LOGIN = ctypes.CFUNCTYPE(CK_RV, CK_ULONG, CK_ULONG, ctypes.c_char_p, CK_ULONG)
_LOGOUT = ctypes.CFUNCTYPE(CK_RV, CK_ULONG)
CKF_RW_SESSION = 0x2
CKF_SERIAL_SESSION = 0x4

# CK_FUNCTION_LIST starts with the version, then the function pointers in spec
# order; only the entries up to C_Logout are declared because only they are used.
class CK_FUNCTION_LIST(ctypes.Structure):
    _fields_ = [
        ("version", CK_VERSION),
        ("C_Initialize", _INITIALIZE),
        ("C_Finalize", _FINALIZE),
        ("C_GetInfo", CK_VOID_P),
        ("C_GetFunctionList", CK_VOID_P),
        ("C_GetSlotList", _GET_SLOT_LIST),
        ("C_GetSlotInfo", CK_VOID_P),
        ("C_GetTokenInfo", _GET_TOKEN_INFO),
        ("C_GetMechanismList", CK_VOID_P),
        ("C_GetMechanismInfo", CK_VOID_P),
        ("C_InitToken", _INIT_TOKEN),
        ("C_InitPIN", _INIT_PIN),
        ("C_SetPIN", _SET_PIN),
        ("C_OpenSession", _OPEN_SESSION),
        ("C_CloseSession", _CLOSE_SESSION),
        ("C_CloseAllSessions", CK_VOID_P),
        ("C_GetSessionInfo", CK_VOID_P),
        ("C_GetOperationState", CK_VOID_P),
        ("C_SetOperationState", CK_VOID_P),
        ("C_Login", _LOGIN),
        ("C_Logout", _LOGOUT),
    ]


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


class CkApi:
    """The function list of one loaded module."""

    def __init__(self, path: str) -> None:
        try:
            self._dll = ctypes.CDLL(path)
        except OSError as exc:
            raise ModuleLoadError(f"cannot load PKCS#11 module {path}: {exc}") from None
        get_list = self._dll.C_GetFunctionList
        get_list.restype = CK_RV
        get_list.argtypes = [ctypes.POINTER(ctypes.POINTER(CK_FUNCTION_LIST))]
        self._fl = ctypes.POINTER(CK_FUNCTION_LIST)()
        rv = get_list(ctypes.byref(self._fl))
        if rv != CKR_OK:
            raise ModuleLoadError(f"C_GetFunctionList failed in {path}", rv=rv, function="C_GetFunctionList")

    def reinitialize_os_locking(self) -> int:
        """C_Finalize, then C_Initialize with CKF_OS_LOCKING_OK. Returns the CK_RV."""
        fl = self._fl.contents
        rv = fl.C_Finalize(None)
        if rv not in (CKR_OK, CKR_CRYPTOKI_NOT_INITIALIZED):
            return int(rv)
        args = CK_C_INITIALIZE_ARGS(None, None, None, None, CKF_OS_LOCKING_OK, None)
        return int(fl.C_Initialize(ctypes.byref(args)))

    def slot_ids(self, token_present: bool = True) -> tuple[int, list[int]]:
        fl = self._fl.contents
        count = CK_ULONG(0)
        rv = fl.C_GetSlotList(1 if token_present else 0, None, ctypes.byref(count))
        if rv != CKR_OK:
            return int(rv), []
        slots = (CK_SLOT_ID * max(count.value, 1))()
        rv = fl.C_GetSlotList(1 if token_present else 0, slots, ctypes.byref(count))
        found = [int(s) for s in slots[: count.value]]
        return _traced("C_GetSlotList", int(rv), token_present=token_present, slots=found), found

    def token_info(self, slot_id: int) -> tuple[int, RawTokenInfo | None]:
        info = CK_TOKEN_INFO()
        rv = _traced("C_GetTokenInfo", int(self._fl.contents.C_GetTokenInfo(slot_id, ctypes.byref(info))),
                     slot=slot_id, label=_text(info.label))
        if rv != CKR_OK:
            return int(rv), None
        return CKR_OK, RawTokenInfo(
            slot_id=slot_id,
            label=_text(info.label),
            manufacturer=_text(info.manufacturerID),
            model=_text(info.model),
            serial=_text(info.serialNumber),
            flags=int(info.flags),
            min_pin_len=int(info.ulMinPinLen),
            max_pin_len=int(info.ulMaxPinLen),
        )

    def init_token(self, slot_id: int, so_pin: bytearray, label: str) -> int:
        """C_InitToken; the label is blank-padded to 32 bytes as the spec wants."""
        raw_label = label.encode("utf-8")
        if len(raw_label) > 32:
            raise ValueError("label longer than 32 bytes")
        padded = raw_label.ljust(32, b" ")
        rv = int(self._fl.contents.C_InitToken(slot_id, _view(so_pin), len(so_pin), padded))
        return _traced("C_InitToken", rv, slot=slot_id, so_pin=so_pin, label=label)

    def open_session(self, slot_id: int) -> tuple[int, int]:
        """A read/write session used for one PIN operation, then closed."""
        handle = CK_ULONG(0)
        flags = CKF_SERIAL_SESSION | CKF_RW_SESSION
        rv = self._fl.contents.C_OpenSession(slot_id, flags, None, None, ctypes.byref(handle))
        return _traced("C_OpenSession", int(rv), slot=slot_id, flags=flags), int(handle.value)

    def close_session(self, handle: int) -> int:
        return _traced("C_CloseSession", int(self._fl.contents.C_CloseSession(handle)), session=handle)

    def login(self, handle: int, user_type: int, pin: bytearray) -> int:
        rv = int(self._fl.contents.C_Login(handle, user_type, _view(pin), len(pin)))
        return _traced("C_Login", rv, session=handle, user_type=user_type, pin=pin)

    def logout(self, handle: int) -> int:
        return _traced("C_Logout", int(self._fl.contents.C_Logout(handle)), session=handle)

    def init_pin(self, handle: int, pin: bytearray) -> int:
        return _traced("C_InitPIN", int(self._fl.contents.C_InitPIN(handle, _view(pin), len(pin))),
                       session=handle, pin=pin)

    def set_pin(self, handle: int, old: bytearray, new: bytearray) -> int:
        rv = int(self._fl.contents.C_SetPIN(handle, _view(old), len(old), _view(new), len(new)))
        return _traced("C_SetPIN", rv, session=handle, old_pin=old, new_pin=new)


def _traced(function: str, rv: int, **args: object) -> int:
    """Every direct call is traced here (``-vv``); PIN arguments are redacted by name."""
    trace.call("pkcs11", function, args, rv_name(rv))
    return rv


def _view(pin: bytearray) -> ctypes.c_char_p:
    """A pointer into the caller's buffer, not a copy: wiping the Pin wipes what was sent."""
    if not pin:
        return ctypes.c_char_p(None)
    array = (ctypes.c_char * len(pin)).from_buffer(pin)
    return ctypes.cast(array, ctypes.c_char_p)


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").rstrip(" \x00")
