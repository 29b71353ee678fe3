"""Tracing: the steps sitoken takes and every PKCS#11, SKF and APDU call, with secrets redacted.

It rides on the standard ``logging`` tree under ``sitoken``: ``INFO`` carries steps
(``sitoken -v``), ``DEBUG`` carries calls (``sitoken -vv``, ``SITOKEN_LOG=debug``). A driver
reports a call at its one call site with :func:`call`; nothing is formatted unless the level
is on, so a quiet run pays one ``isEnabledFor`` per call. ``logging`` itself is imported only when
the trace is switched on or the program has loaded it (and so may have set up sitoken's loggers):
a quiet CLI run does not pay for it (docs/cli.md, "A fast CLI").
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .pin import Pin

if TYPE_CHECKING:
    import logging

# logging's own level numbers (INFO, DEBUG, WARNING), fixed by the standard library.
STEPS = 20
CALLS = 10
_QUIET = 30
LEVELS = {"warning": _QUIET, "info": STEPS, "steps": STEPS, "debug": CALLS, "calls": CALLS}

# Argument names whose values are secrets: a PIN, key material, a password. Their values are
# never formatted, whatever their type.
SECRET_NAMES = frozenset({
    "pin", "old_pin", "new_pin", "so_pin", "new_so_pin", "password", "passphrase", "secret",
    "private_key", "key_material", "value", "puk", "resetting_code",
})
# Longer byte strings are shortened: a trace shows what was sent, not a whole file.
_BYTES_SHOWN = 32

_handler: logging.Handler | None = None
# SITOKEN_LOG alone turns the trace on in any program using the library, read at the first record.
_env_read = False


def configure(level: int | str | None = None, file: str | None = None) -> int:
    """Send sitoken's trace to stderr (or ``file``) at ``level``; ``None`` reads ``SITOKEN_LOG``.

    Returns the level in force. Calling it again replaces the previous destination.
    """
    global _handler, _env_read
    _env_read = True
    chosen = _level(level if level is not None else os.environ.get("SITOKEN_LOG"))
    file = file or os.environ.get("SITOKEN_LOG_FILE") or None
    if chosen >= _QUIET and not file and _handler is None and "logging" not in sys.modules:
        return chosen  # nothing asked, nothing set before, and no logger anyone could have set up
    import logging

    root = logging.getLogger("sitoken")
    if _handler is not None:
        root.removeHandler(_handler)
        _handler.close()
        _handler = None
    if chosen >= _QUIET and not file:
        # Nothing asked for: leave the logger as the host program set it up (it may log sitoken itself).
        root.setLevel(logging.NOTSET)
        root.propagate = True
        return chosen
    handler: logging.Handler = (
        logging.FileHandler(file, encoding="utf-8") if file else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root.setLevel(chosen)
    root.addHandler(handler)
    # Our handler writes each record once; the host's root handlers would print it again.
    root.propagate = False
    _handler = handler
    return chosen


def _level(value: int | str | None) -> int:
    if value is None or value == "":
        return _QUIET
    if isinstance(value, int):
        return value
    try:
        return LEVELS[value.strip().lower()]
    except KeyError:
        return _QUIET


def _from_environment() -> None:
    if not _env_read and os.environ.get("SITOKEN_LOG"):
        configure()


def _logger(name: str) -> logging.Logger | None:
    """The logger ``name``; None while logging is not loaded, when no record could be shown."""
    _from_environment()
    loaded = sys.modules.get("logging")
    return None if loaded is None else loaded.getLogger(name)


def step(message: str, *args: object) -> None:
    """A step (shown from ``-v``): what sitoken is doing, in words."""
    logger = _logger("sitoken")
    if logger is not None:
        logger.info(message, *args)


def call(layer: str, function: str, args: Mapping[str, object] | None = None, result: object = None) -> None:
    """One call into a token layer (``pkcs11``, ``skf``, ``apdu``), its arguments and its result."""
    logger = _logger(f"sitoken.{layer}")
    if logger is None or not logger.isEnabledFor(CALLS):
        return
    shown = ", ".join(f"{name}={redact(name, value)}" for name, value in (args or {}).items())
    logger.debug("%s(%s) -> %s", function, shown, result if isinstance(result, str) else redact("result", result))


def redact(name: str, value: object) -> str:
    """How a value appears in a trace: secrets as their length at most, bytes shortened to hex."""
    if isinstance(value, Pin) or name.lower() in SECRET_NAMES:
        return "<redacted>"
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        more = f"...({len(raw)} bytes)" if len(raw) > _BYTES_SHOWN else ""
        return raw[:_BYTES_SHOWN].hex() + more
    if isinstance(value, int) and not isinstance(value, bool) and name in ("rv", "result", "handle"):
        return f"0x{value:X}"
    return repr(value)
