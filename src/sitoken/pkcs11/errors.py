"""Turn python-pkcs11 exceptions into sitoken errors that keep the CK_RV and the function."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pkcs11.exceptions as p11x

from .. import trace
from ..errors import (
    KeyNotFound,
    MechanismUnsupported,
    NotSupported,
    PinIncorrect,
    PinLocked,
    Pkcs11Error,
    SitokenError,
    TokenAbsent,
    TokenError,
    TokenNotFound,
)
from .constants import CKR_BY_NAME, rv_name

# python-pkcs11 raises one class per CK_RV and drops the number; its class names
# follow the spec names except for these.
_RENAMED = {
    "AnotherUserAlreadyLoggedIn": "CKR_USER_ANOTHER_ALREADY_LOGGED_IN",
    "FunctionCancelled": "CKR_FUNCTION_CANCELED",
    "SessionReadWriteSOExists": "CKR_SESSION_READ_WRITE_SO_EXISTS",
    "SlotIDInvalid": "CKR_SLOT_ID_INVALID",
    "TokenNotRecognised": "CKR_TOKEN_NOT_RECOGNIZED",
}
_UNMAPPED = re.compile(r"Unmapped error code (0x[0-9a-fA-F]+)")

# Codes that have their own sitoken class; everything else is a Pkcs11Error.
_CLASS_BY_RV: dict[str, type[TokenError]] = {
    "CKR_PIN_INCORRECT": PinIncorrect,
    "CKR_PIN_LOCKED": PinLocked,
    "CKR_TOKEN_NOT_PRESENT": TokenAbsent,
    "CKR_DEVICE_REMOVED": TokenAbsent,
    "CKR_SESSION_HANDLE_INVALID": TokenAbsent,
    "CKR_SESSION_CLOSED": TokenAbsent,
    "CKR_MECHANISM_INVALID": MechanismUnsupported,
    "CKR_KEY_TYPE_INCONSISTENT": MechanismUnsupported,
    "CKR_FUNCTION_NOT_SUPPORTED": NotSupported,
}

_MESSAGES = {
    "CKR_PIN_INCORRECT": "wrong PIN",
    "CKR_PIN_LOCKED": "PIN is locked; an administrator reset is needed",
    "CKR_TOKEN_NOT_PRESENT": "token removed",
    "CKR_DEVICE_REMOVED": "token removed",
    "CKR_SESSION_HANDLE_INVALID": "token session lost (token removed?)",
    "CKR_SESSION_CLOSED": "token session lost (token removed?)",
    "CKR_MECHANISM_INVALID": "the token does not support this mechanism",
    "CKR_KEY_TYPE_INCONSISTENT": "the mechanism does not fit this key type",
    "CKR_FUNCTION_NOT_SUPPORTED": "the module does not implement this function",
    "CKR_PIN_LEN_RANGE": "the token refused the PIN length",
    "CKR_PIN_INVALID": "the token refused characters in the PIN",
    "CKR_USER_NOT_LOGGED_IN": "log in with the user PIN first",
    "CKR_USER_PIN_NOT_INITIALIZED": "the user PIN is not set yet (init it with the SO PIN)",
    "CKR_SESSION_EXISTS": "the token has open sessions; close other applications using it",
    "CKR_TOKEN_WRITE_PROTECTED": "the token is write-protected",
    "CKR_DEVICE_MEMORY": "the token is full",
    "CKR_USER_ANOTHER_ALREADY_LOGGED_IN": "another user is logged in to this token; log out first",
    "CKR_USER_ALREADY_LOGGED_IN": "already logged in to this token",
}


def rv_of(exc: p11x.PKCS11Error) -> int | None:
    """The CK_RV behind a python-pkcs11 exception, or None for its own non-RV errors."""
    name = type(exc).__name__
    spec = _RENAMED.get(name) or "CKR_" + re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).upper()
    if spec in CKR_BY_NAME:
        return CKR_BY_NAME[spec]
    found = _UNMAPPED.search(str(exc))
    return int(found.group(1), 16) if found else None


def translate(exc: p11x.PKCS11Error, function: str) -> SitokenError:
    """A sitoken error for ``exc`` raised by ``function`` (a C_ name)."""
    if isinstance(exc, p11x.NoSuchKey | p11x.MultipleObjectsReturned):
        return KeyNotFound(f"{function}: {exc or 'no such object'}", function=function)
    if isinstance(exc, p11x.NoSuchToken | p11x.MultipleTokensReturned):
        return TokenNotFound(f"{function}: {exc or 'no such token'}", function=function)
    rv = rv_of(exc)
    if rv is None:
        return Pkcs11Error(f"{function} failed: {exc}", function=function)
    return error_for_rv(rv, function)


@contextmanager
def ck_call(function: str, **args: object) -> Iterator[None]:
    """Run python-pkcs11 code; its failures leave as sitoken errors naming ``function``.

    This is the driver's one call site, so it is also where each call is traced (``-vv``).
    """
    try:
        yield
    except p11x.PKCS11Error as exc:
        error = translate(exc, function)
        trace.call("pkcs11", function, args, f"failed: {error}")
        raise error from None
    trace.call("pkcs11", function, args, "CKR_OK")


def error_for_rv(rv: int, function: str) -> TokenError:
    """The sitoken error for a raw CK_RV from a direct call (ctypes or native)."""
    name = rv_name(rv)
    cls = _CLASS_BY_RV.get(name, Pkcs11Error)
    plain = _MESSAGES.get(name, "the token refused the operation")
    return cls(f"{plain} ({function}: {name}, 0x{rv:X})", rv=rv, function=function)
