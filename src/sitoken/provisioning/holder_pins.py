"""Where holders' user PINs come from in the workflow: a directory, one fixed PIN, a prompt, or generated.

A PIN never comes from the applicant file. Each source answers ``pin_for(subject_key)``
with the PIN and whether it was generated (then the holder must change it).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from ..errors import InvalidInput
from ..pin import Pin, PinPolicy
from .journal import owner_only_file

__all__ = ["DirectoryPins", "FixedPin", "GeneratedPins", "HolderPinSource", "PromptPins", "generate_pin"]

# No 0/O, 1/l/I: a clerk reads the generated PIN out or prints it for the holder.
_LETTERS = "abcdefghijkmnpqrstuvwxyz"
_DIGITS = "23456789"
GENERATED_LENGTH = 8


class HolderPinSource(Protocol):
    """Gives the user PIN for a holder, keyed by ID number or credit code."""

    def pin_for(self, subject_key: str, *, new: bool = True) -> tuple[Pin, bool]:
        """``new``: the PIN is about to be set (a generator may make one); else it must exist."""
        ...


def generate_pin(policy: PinPolicy, avoid: tuple[str, ...] = ()) -> Pin:
    """A random PIN that meets the policy: 8 letters and digits, both present, no weak pattern."""
    length = max(policy.min_length, min(GENERATED_LENGTH, policy.max_length))
    alphabet = _LETTERS + _DIGITS + (_LETTERS.upper() if policy.require_upper else "")
    for _ in range(1000):
        chars = [secrets.choice(alphabet) for _ in range(length)]
        if policy.require_symbol:
            chars[secrets.randbelow(length)] = secrets.choice("~@#$%*")
        pin = Pin("".join(chars))
        if not policy.violations(pin, avoid=avoid):
            return pin
    raise InvalidInput("could not generate a PIN that meets this policy")  # pragma: no cover


def _read_pin_file(path: Path) -> Pin:
    try:
        return Pin.from_text(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(f"cannot read the holder PIN file {path.name}: {exc.strerror}") from None


class DirectoryPins:
    """``DIR/<ID number or credit code>.pin``, one file per holder, prepared by the integrator."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def pin_for(self, subject_key: str, *, new: bool = True) -> tuple[Pin, bool]:
        path = self.directory / f"{subject_key}.pin"
        if not path.exists():
            raise InvalidInput(f"no holder PIN file for this applicant in {self.directory} (<number>.pin)")
        return _read_pin_file(path), False


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

    The file is written (atomically) before the PIN goes to the token, so a rerun after a
    crash finds the same PIN instead of making a second one.
    """

    def __init__(self, directory: str | os.PathLike[str], policy: PinPolicy | None = None) -> None:
        self.directory = Path(directory)
        self.policy = policy or PinPolicy()

    def pin_for(self, subject_key: str, *, new: bool = True) -> tuple[Pin, bool]:
        path = self.directory / f"{subject_key}.pin"
        if path.exists():
            return _read_pin_file(path), True
        if not new:
            raise InvalidInput(f"no generated PIN file for this holder in {self.directory}")
        pin = generate_pin(self.policy, avoid=(subject_key,))
        tmp = self.directory / f".{subject_key}.pin.tmp"
        owner_only_file(tmp)
        fd = os.open(tmp, os.O_WRONLY | os.O_TRUNC)
        try:
            os.write(fd, pin.reveal() + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        return pin, True
