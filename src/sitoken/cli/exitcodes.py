"""The CLI's exit statuses: one table, documented in docs/cli.md, stable across releases."""

from __future__ import annotations

from .. import errors

OK = 0
SIGNATURE_INVALID = 1
USAGE = 2
TOKEN_NOT_FOUND = 3
PIN_INCORRECT = 4
PIN_LOCKED = 5
PIN_FINAL_TRY = 6
INVALID_INPUT = 7
KEY_NOT_FOUND = 8
NOT_SUPPORTED = 9
TOKEN_ABSENT = 10
MODULE_ERROR = 11
TOKEN_ERROR = 12
JOURNAL_ERROR = 13
ABORTED = 14
BATCH_INCOMPLETE = 15
INTERNAL = 70

# Most specific class first: the first isinstance match wins.
BY_ERROR: tuple[tuple[type[errors.SitokenError], int], ...] = (
    (errors.SignatureInvalid, SIGNATURE_INVALID),
    (errors.TokenNotFound, TOKEN_NOT_FOUND),
    (errors.PinIncorrect, PIN_INCORRECT),
    (errors.PinLocked, PIN_LOCKED),
    (errors.FinalTryGuard, PIN_FINAL_TRY),
    (errors.InvalidInput, INVALID_INPUT),
    (errors.KeyNotFound, KEY_NOT_FOUND),
    (errors.NotSupported, NOT_SUPPORTED),
    (errors.TokenAbsent, TOKEN_ABSENT),
    (errors.ModuleLoadError, MODULE_ERROR),
    (errors.TokenError, TOKEN_ERROR),
    (errors.JournalError, JOURNAL_ERROR),
)

DESCRIPTIONS = {
    OK: "success",
    SIGNATURE_INVALID: "verify: the signature is not valid",
    USAGE: "usage error (unknown option, missing argument, no PIN source)",
    TOKEN_NOT_FOUND: "no token matches the selection, or several do",
    PIN_INCORRECT: "the token refused the PIN",
    PIN_LOCKED: "the PIN is locked",
    PIN_FINAL_TRY: "refused to send a PIN on the final try (see --allow-final-try)",
    INVALID_INPUT: "invalid input: PIN policy, malformed file, bad argument value",
    KEY_NOT_FOUND: "no key or certificate matches the selection",
    NOT_SUPPORTED: "the token, driver or module cannot do this",
    TOKEN_ABSENT: "the token was removed or the reader is empty",
    MODULE_ERROR: "the PKCS#11 module or PC/SC service could not be loaded",
    TOKEN_ERROR: "any other token failure (the JSON error carries rv/function or sw)",
    JOURNAL_ERROR: "the provisioning journal is unreadable or inconsistent",
    ABORTED: "the operator declined a confirmation",
    BATCH_INCOMPLETE: "batch: some rows were invalid or failed (the others were done; see the summary)",
    INTERNAL: "a bug in sitoken: please report it",
}


def for_error(exc: errors.SitokenError) -> int:
    for cls, status in BY_ERROR:
        if isinstance(exc, cls):
            return status
    return TOKEN_ERROR
