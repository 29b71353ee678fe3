"""Click-free CLI plumbing shared by the click app and the fast path: state, output, PIN sources, files.

Everything a fast command (:mod:`sitoken.cli.fast`) does goes through these functions, and so
does the click app, so both print the same bytes and read PINs and files the same way.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import safefiles
from ..algorithms import KeyType, Mechanism
from ..errors import InvalidInput
from ..pin import Pin

# What click.echo removes from text written to something that is not a terminal.
_ANSI = re.compile(r"\033\[[;?0-9]*[a-zA-Z]")


@dataclass
class State:
    """What the options collected: selection, output mode, PIN sources."""

    module: str | None = None
    token: str | None = None
    json: bool = False
    pinentry: str | None = None
    verbose: int = 0
    debug: bool = False
    log_file: str | None = None
    stdin_lines: list[str] | None = None
    pin_sources: dict[str, tuple[str, str]] = field(default_factory=dict)


def echo(text: str, err: bool = False) -> None:
    """One line to stdout (or stderr), as ``click.echo`` writes it."""
    stream = sys.stderr if err else sys.stdout
    if "\033" in text and not stream.isatty():
        text = _ANSI.sub("", text)
    stream.write(text + "\n")
    stream.flush()


def json_text(data: Any, *, indent: int | None = 2) -> str:
    """sitoken's JSON: stable key order, non-ASCII kept, anything else as its text."""
    import json  # here: a run without --json (a plain sign or verify) does not load it

    return json.dumps(data, ensure_ascii=False, indent=indent, sort_keys=True, default=str)


def emit_for(st: State, data: Any, text: str | Callable[[], str]) -> None:
    """Print ``data`` as JSON with --json, else the human text."""
    echo(json_text(data) if st.json else text() if callable(text) else text)


def sm2_id_bytes(text: str | None) -> bytes | None:
    """The ``--sm2-id`` text as the ID's bytes (UTF-8); None keeps the default."""
    if text is None:
        return None
    ident = text.encode("utf-8")
    if not ident or len(ident) > 8191:
        raise InvalidInput("--sm2-id is 1-8191 bytes")
    return ident


def chosen_mechanism(mechanism: str | None, key_type: KeyType | None) -> Mechanism:
    if mechanism:
        return Mechanism(mechanism)
    if key_type is None:
        raise InvalidInput("cannot tell the key type; pass --mechanism")
    return key_type.default_mechanism


def pin_from_source(st: State, label: str, kind: str, where: str) -> Pin:
    """A PIN from ``--NAME-env``, ``--NAME-fd`` or ``--NAME-file`` (``-``: a line of stdin)."""
    if kind == "env":
        value = os.environ.get(where)
        if value is None:
            raise InvalidInput(f"the environment variable {where} (for the {label}) is not set")
        return Pin(value)
    if kind == "fd":
        return Pin.from_buffer(_fd_line(int(where), label))
    if where == "-":
        return Pin.from_text(_stdin_line(st, label))
    # Refused, not just warned about, when others may read or write it (as ssh does with keys).
    return Pin.from_buffer(safefiles.read_secret(where, label))


def _fd_line(fd: int, label: str) -> bytearray:
    """One line from a descriptor, read a byte at a time: nothing past the newline is consumed
    (several PINs may share one descriptor), and a writer that keeps the pipe open does not
    block us once the line is there. One-byte ``bytes`` are shared singletons: no PIN copies.
    """
    line = bytearray()
    try:
        while len(line) <= safefiles.MAX_SECRET_BYTES:
            byte = os.read(fd, 1)
            if not byte or byte == b"\n":
                break
            line += byte
    except OSError as exc:
        line[:] = bytes(len(line))
        raise InvalidInput(f"cannot read the {label} from file descriptor {fd}: {exc.strerror}") from None
    if not line:
        raise InvalidInput(f"file descriptor {fd} has no line for the {label}")
    return line


def _stdin_line(st: State, label: str) -> str:
    # Several PINs may come from stdin, one line each, in the order they are asked for.
    if st.stdin_lines is None:
        st.stdin_lines = sys.stdin.read().splitlines()
    if not st.stdin_lines:
        raise InvalidInput(f"stdin has no line left for the {label}")
    return st.stdin_lines.pop(0)


def read_input(path: str) -> bytes:
    try:
        return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None


def check_output(path: str | None, *, force: bool, inputs: Iterable[str] = ()) -> None:
    """Refuse a bad --out before any token work, so a refusal costs no PIN try and no signature."""
    if path and path != "-":
        safefiles.check_output(path, force=force, inputs=inputs)


def write_output(path: str, data: bytes, *, force: bool, inputs: Iterable[str] = ()) -> None:
    """``-``: stdout. Else atomically, never through a link, never over one of ``inputs``, and
    over an existing file only with ``force`` (see sitoken.safefiles)."""
    if path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    safefiles.write_file(path, data, force=force, inputs=inputs)
