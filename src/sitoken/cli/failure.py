"""How a failed run reports itself: one JSON document on stdout with --json, one line on stderr."""

from __future__ import annotations

import os

from ..errors import SitokenError
from . import exitcodes
from .base import echo, json_text


def json_requested(argv: list[str]) -> bool:
    """Whether the run asked for --json (read from argv: the failure may predate option parsing)."""
    args = argv[: argv.index("--")] if "--" in argv else argv
    return "--json" in args


def fail(status: int, payload: dict[str, object], message: str, as_json: bool) -> int:
    """Report a failure with its exit status; returns the status."""
    if as_json:
        echo(json_text({"message": message, **payload, "exit_code": status}, indent=None))
    echo(f"error: {message}", err=True)
    return status


def aborted(as_json: bool) -> int:
    """A declined confirmation, or end of input where an answer was awaited."""
    return fail(exitcodes.ABORTED, {"error": "aborted", "message": "aborted"}, "aborted", as_json)


def status_for(exc: BaseException, as_json: bool) -> int:
    """The exit status and error report of an exception that is not click's own (the click app
    maps its usage errors and aborts first, then comes here, as the fast path does)."""
    if isinstance(exc, SitokenError):
        return fail(exitcodes.for_error(exc), exc.to_dict(), str(exc), as_json)
    if isinstance(exc, KeyboardInterrupt):
        message = "interrupted (Ctrl-C)"
        return fail(exitcodes.INTERRUPTED, {"error": "interrupted", "message": message}, message, as_json)
    if isinstance(exc, SystemExit):
        return exc.code if isinstance(exc.code, int) else exitcodes.INTERNAL
    if os.environ.get("SITOKEN_DEBUG"):
        import traceback

        traceback.print_exception(exc)
    message = f"internal error {type(exc).__name__}: {exc} (set SITOKEN_DEBUG=1 for the traceback)"
    return fail(exitcodes.INTERNAL, {"error": "internal", "message": message}, message, as_json)
