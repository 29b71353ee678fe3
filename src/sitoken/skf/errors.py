"""SAR_* codes to sitoken's error tree: one table; the code and the function are always kept."""

from __future__ import annotations

from ..errors import (
    KeyNotFound,
    NotSupported,
    PinError,
    PinIncorrect,
    PinLocked,
    SkfError,
    TokenAbsent,
    TokenError,
    TokenNotFound,
)
from .constants import sar_name

_BY_NAME: dict[str, type[TokenError]] = {
    "SAR_PIN_LOCKED": PinLocked,
    "SAR_PIN_INVALID": PinError,
    "SAR_PIN_LEN_RANGE": PinError,
    "SAR_USER_NOT_LOGGED_IN": PinError,
    "SAR_USER_PIN_NOT_INITIALIZED": PinError,
    "SAR_USER_TYPE_INVALID": PinError,
    "SAR_APPLICATION_NOT_EXISTS": TokenNotFound,
    "SAR_DEVICE_REMOVED": TokenAbsent,
    "SAR_NOTSUPPORTYETERR": NotSupported,
    "SAR_KEYNOTFOUNTERR": KeyNotFound,
    "SAR_CERTNOTFOUNTERR": KeyNotFound,
}
_HINTS = {
    "SAR_USER_NOT_LOGGED_IN": "log in with the user PIN first",
    "SAR_PIN_LOCKED": "an administrator must unblock it with the admin PIN",
    "SAR_APPLICATION_NOT_EXISTS": "no such application on the device",
}


def error_for_sar(rv: int, function: str, *, remaining: int | None = None) -> TokenError:
    """The error for a failed SKF call; a wrong PIN carries the exact tries the token reported."""
    name = sar_name(rv)
    hint = _HINTS.get(name)
    message = f"{function} failed: {name}" + (f" ({hint})" if hint else "")
    if name == "SAR_PIN_INCORRECT":
        if remaining == 0:  # the last try was spent: the token is now locked
            return PinLocked(f"{message}; no tries left", rv=rv, function=function)
        tries = "" if remaining is None else f"; {remaining} {'try' if remaining == 1 else 'tries'} left"
        return PinIncorrect(message + tries, remaining=remaining, rv=rv, function=function)
    return _BY_NAME.get(name, SkfError)(message, rv=rv, function=function)
