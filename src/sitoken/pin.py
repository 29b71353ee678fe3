"""PINs as secrets, the PIN policy checked before any token call, and PIN status."""

from __future__ import annotations

import string
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from enum import Enum
from types import TracebackType
from typing import TYPE_CHECKING

from .errors import InvalidInput, PinPolicyError

if TYPE_CHECKING:  # only an annotation: datetime's import cost every command about 2 ms
    from datetime import date


class PinRole(str, Enum):
    """Which PIN: the holder's (user) or the administrator's (security officer)."""

    USER = "user"
    SO = "so"


class Pin:
    """A PIN held in a wipeable buffer; it never prints, pickles or compares in the clear.

    ``reveal()`` hands out bytes for the one call that needs them; ``wipe()``
    (or leaving a ``with`` block) zeroes the buffer.
    """

    __slots__ = ("_buf", "_wiped")

    def __init__(self, value: str | bytes | bytearray) -> None:
        if isinstance(value, str):
            try:
                value = value.encode("utf-8")
            except UnicodeEncodeError:
                # Bytes that are not UTF-8 (in a variable or argv) reach Python as lone surrogates.
                raise InvalidInput("the PIN is not valid UTF-8 text") from None
        self._buf = bytearray(value)
        self._wiped = False

    @classmethod
    def from_text(cls, text: str) -> Pin:
        """A PIN read from a prompt, file or variable: one trailing newline is dropped."""
        if text.endswith("\r\n"):
            text = text[:-2]
        elif text.endswith("\n"):
            text = text[:-1]
        return cls(text)

    @classmethod
    def from_buffer(cls, buf: bytearray) -> Pin:
        """A PIN read as bytes (a file, a descriptor): one trailing newline is dropped, ``buf`` is wiped.

        The PIN never exists as ``str`` or ``bytes`` on the way: only in ``buf`` and the Pin.
        """
        end = len(buf)
        if buf.endswith(b"\r\n"):
            end -= 2
        elif buf.endswith(b"\n"):
            end -= 1
        pin = cls(b"")
        pin._buf = buf[:end]
        buf[:] = bytes(len(buf))
        if any(b >= 0x80 for b in pin._buf):
            try:
                # Only a non-ASCII PIN is decoded (into a throw-away str) to check it is UTF-8.
                str(pin._buf, "utf-8")
            except UnicodeDecodeError:
                pin.wipe()
                raise InvalidInput("the PIN is not valid UTF-8 text") from None
        return pin

    def reveal(self) -> bytes:
        # A wiped PIN must never go out as an empty PIN: that would cost a retry.
        if self._wiped:
            raise InvalidInput("this PIN was wiped after use")
        return bytes(self._buf)

    def buffer(self) -> bytearray:
        """The live buffer, for native code that wipes it after use."""
        return self._buf

    def text(self) -> str:
        return self._buf.decode("utf-8", errors="replace")

    def wipe(self) -> None:
        for i in range(len(self._buf)):
            self._buf[i] = 0
        # Replace rather than clear(): a ctypes view may still export the old buffer.
        self._buf = bytearray()
        self._wiped = True

    def __len__(self) -> int:
        return len(self._buf)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Pin):
            return NotImplemented
        import hmac  # here, not at the top: hmac loads OpenSSL, which `import sitoken` should not pay

        return hmac.compare_digest(bytes(self._buf), bytes(other._buf))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "Pin(<redacted>)"

    __str__ = __repr__

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("a Pin cannot be pickled")

    def __enter__(self) -> Pin:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.wipe()


_PR_SET_DUMPABLE = 4  # <linux/prctl.h>


def disable_core_dumps() -> bool:
    """Keep PINs in this process's memory out of core dumps; call it once before reading a PIN.

    Sets the core size limit to 0 (soft and hard, so no child of this process can raise it)
    and, on Linux, marks the process not dumpable, which also stops other processes of the same
    user from attaching a debugger or reading its memory through ``/proc``. The sitoken CLI
    calls this when it starts; an application using the library calls it itself. Returns True
    when both took effect (only the limit on systems without ``prctl``).
    """
    done = True
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError):
        done = False
    if sys.platform.startswith("linux"):
        try:
            done = _prctl(_PR_SET_DUMPABLE, 0) == 0 and done
        except (OSError, AttributeError):
            done = False
    return done


def _prctl(option: int, arg: int) -> int:
    """libc's prctl(2). Through cffi's backend, which every command loads anyway (the PKCS#11
    binding, cryptography): importing ctypes only for this one call cost each command about 2 ms.
    ctypes serves where that low-level interface is missing."""
    try:
        import _cffi_backend as backend

        c_int, c_ulong = backend.new_primitive_type("int"), backend.new_primitive_type("unsigned long")
        signature = backend.new_function_type((c_int, c_ulong, c_ulong, c_ulong, c_ulong), c_int, False)
        call = backend.load_library(None).load_function(signature, "prctl")
    except (ImportError, AttributeError, TypeError):
        import ctypes

        call = ctypes.CDLL(None, use_errno=True).prctl
    return int(call(option, arg, 0, 0, 0))


def as_pin(value: Pin | str | bytes) -> Pin:
    """Accept a Pin or plain text at the API edge."""
    return value if isinstance(value, Pin) else Pin(value)


# PINs that tokens ship with or that people pick first (DOMAIN.md §6): refused
# whatever their shape, because they are the first guesses of anyone holding a lost key.
KNOWN_WEAK = frozenset(
    {
        "123456", "1234567", "12345678", "123456789", "1234567890", "111111", "000000",
        "888888", "88888888", "11111111", "00000000", "123123", "654321", "666666",
        "abc123", "abcd1234", "a1b2c3", "a1b2c3d4", "aa123456", "qwe123", "qwerty123",
        "qwe123456", "password1", "passw0rd", "admin123", "1q2w3e", "1q2w3e4r", "asdf1234",
        "zxc123", "123abc", "123qwe", "abc12345",
    }
)


#: Six digits in a row of an ID number identify a holder (and are printed on the card).
ID_DIGITS_RUN = 6


@dataclass(frozen=True, repr=False)
class HolderContext:
    """Facts about a holder that their PIN must not contain: the first guesses of anyone who
    finds a lost key together with the holder's ID card.

    Refused in the PIN: the birth date as ``YYYYMMDD``, ``YYMMDD``, ``MMDD`` or ``DDMMYYYY``,
    and any six digits in a row of the ID number (or credit code). Never printed: the repr
    hides both.
    """

    id_number: str = ""
    birth_date: date | None = None

    def violations(self, text: str) -> list[str]:
        reasons = []
        if self.birth_date is not None and any(form in text for form in self._date_forms()):
            reasons.append("must not contain the holder's birth date")
        if any(run in text for run in self._id_runs()):
            reasons.append(f"must not contain {ID_DIGITS_RUN} digits in a row of the holder's ID number")
        return reasons

    def _date_forms(self) -> tuple[str, ...]:
        d = self.birth_date
        assert d is not None
        return (f"{d:%Y%m%d}", f"{d:%y%m%d}", f"{d:%m%d}", f"{d:%d%m%Y}")

    def _id_runs(self) -> set[str]:
        number = self.id_number
        windows = (number[i : i + ID_DIGITS_RUN] for i in range(len(number) - ID_DIGITS_RUN + 1))
        return {w for w in windows if w.isdigit()}

    def __repr__(self) -> str:
        return "HolderContext(<redacted>)"


@dataclass(frozen=True)
class PinPolicy:
    """Rules a new PIN must meet before sitoken sends it anywhere.

    The default is the social-insurance rule: 6-12 characters that mix letters
    and digits, with no weak or repeated pattern. Every rule can be changed
    for a CA or platform that mandates another one.
    """

    min_length: int = 6
    max_length: int = 12
    require_letter: bool = True
    require_digit: bool = True
    require_upper: bool = False
    require_lower: bool = False
    require_symbol: bool = False
    forbid_weak: bool = True

    def violations(self, pin: Pin, *, avoid: Iterable[str] = (), holder: HolderContext | None = None) -> list[str]:
        """Every rule the PIN breaks, in plain words that never quote the PIN.

        ``avoid`` holds strings the PIN must not be or be part of: the holder's
        ID number, or the other PIN of the token. ``holder``: what a holder's PIN
        must not contain (their birth date, digits of their ID number).
        """
        text = pin.text()
        reasons = self._composition(text)
        if self.forbid_weak:
            reasons += _weakness(text)
        for other in avoid:
            if other and (text == other or (len(text) >= 4 and text.upper() in other.upper())):
                reasons.append("must not be the other PIN or part of the holder's ID number")
                break
        if holder is not None:
            reasons += holder.violations(text)
        return reasons

    def enforce(self, pin: Pin, *, avoid: Iterable[str] = (), holder: HolderContext | None = None) -> None:
        reasons = self.violations(pin, avoid=avoid, holder=holder)
        if reasons:
            raise PinPolicyError(reasons)

    def _composition(self, text: str) -> list[str]:
        reasons: list[str] = []
        if not self.min_length <= len(text) <= self.max_length:
            reasons.append(f"length must be {self.min_length}-{self.max_length} characters")
        if any(c not in _PRINTABLE for c in text):
            reasons.append("only printable ASCII letters, digits and symbols; no spaces")
        checks = (
            (self.require_letter, any(c in string.ascii_letters for c in text), "a letter"),
            (self.require_digit, any(c in string.digits for c in text), "a digit"),
            (self.require_upper, any(c in string.ascii_uppercase for c in text), "an upper-case letter"),
            (self.require_lower, any(c in string.ascii_lowercase for c in text), "a lower-case letter"),
            (self.require_symbol, any(c in string.punctuation for c in text), "a symbol"),
        )
        reasons += [f"must contain {what}" for wanted, present, what in checks if wanted and not present]
        return reasons

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


_PRINTABLE = frozenset(string.ascii_letters + string.digits + string.punctuation)

#: Administrator (SO) PINs are set by the counter, not by the holder: longer is allowed and
#: letters are not required, but weak patterns are still refused.
SO_PIN_POLICY = PinPolicy(min_length=6, max_length=32, require_letter=False, require_digit=False)


def _weakness(text: str) -> list[str]:
    low = text.lower()
    if low in KNOWN_WEAK:
        return ["is a known default or common PIN"]
    if len(set(low)) <= 1:
        return ["must not repeat one character"]
    if _is_repeated_unit(low):
        return ["must not repeat a short pattern"]
    if _is_made_of_runs(low):
        return ["must not be a straight run such as 123456 or abcdef"]
    return []


def _is_repeated_unit(text: str) -> bool:
    """121212, abcabc, ab12ab12: a unit of at most half the length, repeated."""
    n = len(text)
    return any(n % k == 0 and text[:k] * (n // k) == text for k in range(1, n // 2 + 1))


def _is_made_of_runs(text: str) -> bool:
    """True when the PIN is only ascending or descending runs of 3 or more (abc123, 987654)."""
    i = 0
    while i < len(text):
        j = i + 1
        step = ord(text[j]) - ord(text[i]) if j < len(text) else 0
        if step not in (1, -1):
            return False
        while j + 1 < len(text) and ord(text[j + 1]) - ord(text[j]) == step:
            j += 1
        if j - i + 1 < 3:
            return False
        i = j + 1
    return True


@dataclass(frozen=True)
class PinStatus:
    """What the token says about one PIN, normalised across PKCS#11 flags and card counters.

    ``remaining`` and ``maximum`` are exact tries where the token reports them
    (a card's ``63Cx``, an OpenPGP PW status), and ``None`` where it reports only
    flags (PKCS#11).
    """

    role: PinRole = PinRole.USER
    initialized: bool = True
    remaining: int | None = None
    maximum: int | None = None
    count_low: bool = False
    final_try: bool = False
    locked: bool = False
    must_change: bool = False

    @property
    def state(self) -> str:
        """One word: locked, final-try, count-low, must-change, not-initialized or ok."""
        if self.locked:
            return "locked"
        if self.final_try:
            return "final-try"
        if not self.initialized:
            return "not-initialized"
        if self.must_change:
            return "must-change"
        if self.count_low:
            return "count-low"
        return "ok"

    def describe(self) -> str:
        """Words a clerk can read out: "PIN is blocked", "1 try left", ..."""
        if self.locked:
            return "PIN is blocked; an administrator reset is needed"
        if self.remaining is not None:
            tries = f"{self.remaining} {'try' if self.remaining == 1 else 'tries'} left"
            text = tries if self.maximum is None else f"{tries} of {self.maximum}"
        elif self.final_try:
            text = "one try left"
        elif self.count_low:
            text = "a wrong PIN was entered since the last success"
        else:
            text = "ok" if self.initialized else "PIN not set"
        return text + ("; must be changed" if self.must_change else "")

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = asdict(self)
        out["role"] = self.role.value
        out["state"] = self.state
        return out
