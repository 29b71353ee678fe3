"""The fast path: ``tokens``, a plain ``sign`` and ``verify`` without click, for argv it fully understands.

Importing click and every command's options costs more than the token work of these commands
(docs/cli.md, "A fast CLI"). This parser accepts only a strict subset of what the click app
accepts: known options of the three commands, each at most once, with a value that cannot be
mistaken for an option; a PIN from ``--pin-env``/``--pin-file``/``--pin-fd`` (never a prompt). For
anything else, help, tracing options, a CMS signature, a missing or repeated option, it returns
None before doing any work and the click app runs instead, with its own usage errors. The
command bodies are the click commands' own (:mod:`sitoken.cli.actions`), and so is the mapping of
failures to exit statuses (:mod:`sitoken.cli.failure`).
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..algorithms import Mechanism
from . import exitcodes
from .actions import (
    list_tokens,
    public_key_file,
    raw_signature,
    report_signature,
    signing_mechanism,
    verdict,
    verify_raw,
)
from .base import State, check_output, echo, pin_from_source, read_input, sm2_id_bytes, write_output
from .failure import aborted, json_requested, status_for

if TYPE_CHECKING:
    from ..token import Token

Options = dict[str, str | bool]

_SELECTION = {"--module": str, "--token": str, "--json": bool}
# Per command: each option it may take here, and whether it takes a value (str) or is a flag (bool).
_COMMANDS: dict[str, dict[str, type]] = {
    "tokens": _SELECTION,
    "sign": {**_SELECTION, "--key": str, "--in": str, "--out": str, "--mechanism": str, "--raw-ecdsa": bool,
             "--sm2-id": str, "--force": bool, "--pin-env": str, "--pin-file": str, "--pin-fd": str,
             "--allow-final-try": bool},
    "verify": {**_SELECTION, "--key": str, "--pubkey": str, "--in": str, "--sig": str, "--mechanism": str,
               "--raw-ecdsa": bool, "--sm2-id": str, "--on-token": bool},
}
_REQUIRED = {"tokens": (), "sign": ("--key", "--in", "--out"), "verify": ("--in", "--sig")}
_PIN_SOURCES = ("--pin-env", "--pin-file", "--pin-fd")


def parse(argv: list[str]) -> tuple[str, Options] | None:
    """``(command, options)`` when the fast path fully understands ``argv``, else None."""
    command: str | None = None
    options: Options = {}
    args = list(argv)
    while args:
        arg = args.pop(0)
        if command is None and arg in _COMMANDS:
            command = arg
            continue
        name, eq, value = arg.partition("=")
        kind = (_SELECTION if command is None else _COMMANDS[command]).get(name)
        if kind is None or name in options:
            return None
        if kind is bool:
            if eq:
                return None
            options[name] = True
            continue
        if not eq:
            if not args:
                return None
            value = args.pop(0)
        if not value or (value.startswith("-") and value != "-"):
            return None  # click would take it as the value; leave such lines to click
        options[name] = value
    if command is None or not _complete(command, options):
        return None
    return command, options


def _complete(command: str, options: Options) -> bool:
    """Required options there, values click would accept, nothing that needs a prompt or CMS."""
    if any(name not in options for name in _REQUIRED[command]):
        return False
    mechanism = options.get("--mechanism")
    if mechanism is not None and mechanism not in {m.value for m in Mechanism}:
        return False
    fd = options.get("--pin-fd")
    if isinstance(fd, str) and not (fd.isascii() and fd.isdigit()):
        return False
    if command == "sign":
        return sum(name in options for name in _PIN_SOURCES) == 1
    if command == "verify":
        return "--key" in options or "--pubkey" in options
    return True


def run_fast(argv: list[str]) -> int | None:
    """Run ``argv`` on the fast path and return its exit status; None: the click app must run it."""
    # click rewraps a stdout whose encoding is not UTF-8, and answers shell completion whatever argv
    # says: both are the click app's.
    if (sys.stdout.encoding or "").lower().replace("-", "") != "utf8" or os.environ.get("_SITOKEN_COMPLETE"):
        return None
    parsed = parse(argv)
    if parsed is None:
        return None
    command, options = parsed
    st = State(module=_text(options, "--module"), token=_text(options, "--token"), json="--json" in options)
    as_json = json_requested(argv)
    opened = _Opened(st)
    try:
        from .. import trace

        trace.configure(None, None)  # what the click app's root does without -v/--debug
        try:
            return _RUNNERS[command](st, options, opened)
        finally:
            opened.close()
    except (EOFError, KeyboardInterrupt) as exc:
        echo("", err=True)  # click's main prints this line before it turns these into Abort
        return status_for(exc, as_json) if isinstance(exc, KeyboardInterrupt) else aborted(as_json)
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            return status_for(exc, as_json)
        _silence_closed_pipe()  # the reader went away: exit 1 quietly, as click does
        return 1
    except BaseException as exc:  # every exit is mapped, as in the click app
        return status_for(exc, as_json)


def _silence_closed_pipe() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        os.dup2(devnull, stream.fileno())


def _text(options: Options, name: str) -> str | None:
    value = options.get(name)
    return value if isinstance(value, str) else None


class _Opened:
    """Opens the selected token as the click app's ``open_selected`` does, and closes what it
    opened when the command ends (click closes it with the command's context)."""

    def __init__(self, st: State) -> None:
        self.st = st
        self.tokens: list[Token] = []

    def open(self) -> Token:
        from ..discovery import open_token

        token = open_token(self.st.token, module=self.st.module)
        self.tokens.append(token)
        return token

    def close(self) -> None:
        for token in reversed(self.tokens):
            token.close()


def _tokens(st: State, options: Options, opened: _Opened) -> int:
    list_tokens(st, opened.open)
    return exitcodes.OK


def _sign(st: State, options: Options, opened: _Opened) -> int:
    selector, in_, out = str(options["--key"]), str(options["--in"]), str(options["--out"])
    force = "--force" in options
    check_output(out, force=force, inputs=[in_])
    token = opened.open()
    token.sm2_id = sm2_id_bytes(_text(options, "--sm2-id"))
    data = read_input(in_)
    kind, where = next((name[len("--pin-"):], str(options[name])) for name in _PIN_SOURCES if name in options)
    with pin_from_source(st, "user PIN", kind, str(int(where)) if kind == "fd" else where) as pin:
        token.login(pin, force="--allow-final-try" in options)
    key_type, mech = signing_mechanism(token, selector, _text(options, "--mechanism"))
    signature = raw_signature(token, selector, data, mech, key_type, "--raw-ecdsa" in options)
    write_output(out, signature, force=force, inputs=[in_])
    report_signature(st, selector, mech, "raw", signature, in_, out)
    return exitcodes.OK


def _verify(st: State, options: Options, opened: _Opened) -> int:
    selector, pubkey_file = _text(options, "--key"), _text(options, "--pubkey")
    data, signature = read_input(str(options["--in"])), read_input(str(options["--sig"]))
    token: Token | None = None
    if pubkey_file:
        spki, key_type = public_key_file(pubkey_file)
    else:
        token = opened.open()
        spki, key_type = token.public_key_der(str(selector)), token.find_key(str(selector)).key_type
    on_token = "--on-token" in options
    valid, mech = verify_raw(spki, key_type, data, signature, _text(options, "--mechanism"),
                             "--raw-ecdsa" in options, sm2_id_bytes(_text(options, "--sm2-id")),
                             token if on_token else None, selector)
    return verdict(st, valid, {"valid": valid, "mechanism": mech.value, "verified_by": "token" if on_token else "host"})


_RUNNERS: dict[str, Callable[[State, Options, _Opened], int]] = {"tokens": _tokens, "sign": _sign, "verify": _verify}
