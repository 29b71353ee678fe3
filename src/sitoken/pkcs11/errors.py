"""The one CK_RV -> sitoken error mapping: every error keeps the code, its name and the function."""

from __future__ import annotations

from ..errors import (
    MechanismUnsupported,
    NotSupported,
    PinIncorrect,
    PinLocked,
    Pkcs11Error,
    TokenAbsent,
    TokenError,
)
from .constants import rv_name

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


def error_for_rv(rv: int, function: str) -> TokenError:
    """The sitoken error for ``rv`` returned by ``function`` (a C_ name)."""
    name = rv_name(rv)
    cls = _CLASS_BY_RV.get(name, Pkcs11Error)
    plain = _MESSAGES.get(name, "the token refused the operation")
    return cls(f"{plain} ({function}: {name}, 0x{rv:X})", rv=rv, function=function)


def length_error(function: str, returned: int, capacity: int, unit: str = "bytes") -> Pkcs11Error:
    """A module claimed more than the buffer it was given holds: nothing past the buffer is read."""
    return Pkcs11Error(
        f"the module broke the PKCS#11 contract: {function} returned a length of {returned} "
        f"for a buffer of {capacity} {unit} (nothing beyond the buffer was read)",
        function=function,
    )
