"""Where holders' user PINs come from in the workflow: a directory, one fixed PIN, a prompt, or generated.

A PIN never comes from the applicant file. Each source answers ``pin_for(subject_key)``
with the PIN and whether it was generated (then the holder must change it).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from ..errors import InvalidInput
from ..pin import HolderContext, Pin, PinPolicy
from ..safefiles import private_directory, read_secret, write_file
from .identifiers import parse_resident_id
from .journal import mask

__all__ = [
    "DirectoryPins", "FixedPin", "GeneratedPins", "HolderPinSource", "PromptPins", "generate_pin", "holder_context",
]

# No 0/O, 1/l/I: a clerk reads the generated PIN out or prints it for the holder.
_LETTERS = "abcdefghijkmnpqrstuvwxyz"
_DIGITS = "23456789"
GENERATED_LENGTH = 8


class HolderPinSource(Protocol):
    """Gives the user PIN for a holder, keyed by ID number or credit code."""

    def pin_for(self, subject_key: str, *, new: bool = True) -> tuple[Pin, bool]:
        """``new``: the PIN is about to be set (a generator may make one); else it must exist."""
        ...


def holder_context(subject_key: str) -> HolderContext:
    """What this holder's PIN must not contain: digits of their number and, for a resident ID
    number, the birth date it carries (an organisation's credit code carries none)."""
    try:
        birth = parse_resident_id(subject_key).birth_date
    except InvalidInput:
        birth = None
    return HolderContext(subject_key, birth)


def generate_pin(policy: PinPolicy, avoid: tuple[str, ...] = (), holder: HolderContext | None = None) -> Pin:
    """A random PIN that meets the policy: 8 letters and digits, both present, no weak pattern."""
    length = max(policy.min_length, min(GENERATED_LENGTH, policy.max_length))
    alphabet = _LETTERS + _DIGITS + (_LETTERS.upper() if policy.require_upper else "")
    for _ in range(1000):
        chars = [secrets.choice(alphabet) for _ in range(length)]
        if policy.require_symbol:
            chars[secrets.randbelow(length)] = secrets.choice("~@#$%*")
        pin = Pin("".join(chars))
        if not policy.violations(pin, avoid=avoid, holder=holder):
            return pin
    raise InvalidInput("could not generate a PIN that meets this policy")  # pragma: no cover


@contextmanager
def _shown_masked(path: Path, subject_key: str) -> Iterator[None]:
    """File errors name the holder's PIN file with the number masked, like every other output."""
    try:
        yield
    except InvalidInput as exc:
        shown = str(exc).replace(subject_key, mask(subject_key))
        raise type(exc)(shown) from None


def _read_pin_file(path: Path, subject_key: str) -> Pin:
    # A PIN file others can read or write is refused: it may have been read, or planted.
    with _shown_masked(path, subject_key):
        return Pin.from_buffer(read_secret(path, "holder PIN"))


class DirectoryPins:
    """``DIR/<ID number or credit code>.pin``, one file per holder, prepared by the integrator.

    The directory must be the user's and closed to others, and each file mode 600: anyone who
    could write there could choose a holder's PIN.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        if not Path(directory).is_dir():
            raise InvalidInput(f"the holder PIN directory {directory} does not exist")
        self.directory = private_directory(directory, "holder PIN directory")

    def pin_for(self, subject_key: str, *, new: bool = True) -> tuple[Pin, bool]:
        path = self.directory / f"{subject_key}.pin"
        if not path.exists():
            raise InvalidInput(f"no holder PIN file for this applicant in {self.directory} (<number>.pin)")
        return _read_pin_file(path, subject_key), False


class FixedPin:
    """One PIN for every holder: tests and single provisioning only."""

    def __init__(self, pin: Pin) -> None:
        self._pin = pin

    def pin_for(self, subject_key: str, *, new: bool = True) -> tuple[Pin, bool]:
        return Pin(self._pin.reveal()), False


class PromptPins:
    """Asks a callback (the CLI's prompt) for the holder's PIN."""

    def __init__(self, ask: Callable[[str, bool], Pin]) -> None:
        self._ask = ask

    def pin_for(self, subject_key: str, *, new: bool = True) -> tuple[Pin, bool]:
        return self._ask(subject_key, new), False


class GeneratedPins:
    """A random initial PIN per holder, written 0600 to ``DIR/<number>.pin``; the holder must change it.

    ``DIR`` must be the user's and closed to others (made 0700 if missing). A PIN about to be
    set is always new: a file already at the name is never read as the generated PIN (it may
    have been planted); sitoken's own file from an interrupted run is replaced, and a link or
    anything but a regular file there is refused. The file is complete on disk (written
    beside it, synced, renamed) before the PIN goes to the token.
    """

    def __init__(self, directory: str | os.PathLike[str], policy: PinPolicy | None = None) -> None:
        self.directory = private_directory(directory, "generated PIN directory")
        self.policy = policy or PinPolicy()

    def pin_for(self, subject_key: str, *, new: bool = True) -> tuple[Pin, bool]:
        path = self.directory / f"{subject_key}.pin"
        if not new:
            if not path.exists():
                raise InvalidInput(f"no generated PIN file for this holder in {self.directory}")
            return _read_pin_file(path, subject_key), True
        pin = generate_pin(self.policy, avoid=(subject_key,), holder=holder_context(subject_key))
        line = pin.buffer() + b"\n"
        try:
            with _shown_masked(path, subject_key):
                write_file(path, line, force=True, private=True)
        finally:
            line[:] = bytes(len(line))
        return pin, True
