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
# 128 + SIGINT, what a shell reports for a program stopped by Ctrl-C.
INTERRUPTED = 130

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
    (errors.Cancelled, ABORTED),
)

# Error codes the CLI itself reports (they have no class in the library's error tree).
CLI_CODES = {USAGE: ("usage",), ABORTED: ("aborted",), INTERRUPTED: ("interrupted",), INTERNAL: ("internal",)}

DESCRIPTIONS = {
    OK: "success",
    SIGNATURE_INVALID: "`verify`: the signature is not valid",
    USAGE: "usage error: unknown option, missing argument, no PIN source",
    TOKEN_NOT_FOUND: "no token matches the selection, or several do",
    PIN_INCORRECT: "the token refused the PIN (`remaining` says the tries left when the token tells)",
    PIN_LOCKED: "the PIN is locked",
    PIN_FINAL_TRY: "refused to send a PIN on the final try (see `--allow-final-try`)",
    INVALID_INPUT: "invalid input: PIN policy, unreadable or malformed file, bad value, unsafe or existing output file",
    KEY_NOT_FOUND: "no key or certificate matches the selection",
    NOT_SUPPORTED: "the token, driver or module cannot do this",
    TOKEN_ABSENT: "the token was removed or the reader is empty",
    MODULE_ERROR: "the PKCS#11 module or PC/SC service could not be loaded",
    TOKEN_ERROR: "any other token failure (the JSON error carries `rv`/`function` or `sw`)",
    JOURNAL_ERROR: "the provisioning journal is unreadable or inconsistent, or its database server cannot be reached",
    ABORTED: "a confirmation was declined, or needed and no terminal was there (`--force`)",
    BATCH_INCOMPLETE: "`batch`: some rows were invalid, in conflict, failed, or held by another running process; "
                      "the others were done (see the summary)",
    INTERNAL: "a bug in sitoken (`SITOKEN_DEBUG=1` prints the traceback)",
    INTERRUPTED: ("interrupted by Ctrl-C (`batch` finishes the current row first, then prints what was done "
                  "and the command that carries on)"),
}


def for_error(exc: errors.SitokenError) -> int:
    for cls, status in BY_ERROR:
        if isinstance(exc, cls):
            return status
    return TOKEN_ERROR


def error_codes(status: int) -> list[str]:
    """The ``error`` values a JSON report with this exit status can carry, from the error tree."""
    codes = set(CLI_CODES.get(status, ()))
    pending: list[type[errors.SitokenError]] = [errors.SitokenError]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls is not errors.SitokenError and cls.__module__ == errors.__name__ and _status_of(cls) == status:
            codes.add(cls.code)
    return sorted(codes)


def _status_of(cls: type[errors.SitokenError]) -> int:
    for base, status in BY_ERROR:
        if issubclass(cls, base):
            return status
    return TOKEN_ERROR


def markdown_table() -> str:
    """The exit-status table of docs/cli.md, generated from this module (a test keeps them equal)."""
    lines = ["| status | meaning | `error` in the JSON report |", "|---|---|---|"]
    for status, meaning in sorted(DESCRIPTIONS.items()):
        codes = ", ".join(f"`{code}`" for code in error_codes(status))
        lines.append(f"| {status} | {meaning} | {codes} |")
    return "\n".join(lines) + "\n"
