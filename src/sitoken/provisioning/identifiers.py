"""Parsers for applicant identifiers: resident ID, credit code, mobile and card numbers.

The rules and their sources are in DOMAIN.md §1-§4 (GB 11643-1999, GB 32100-2015,
GB 11714, Social Insurance Law art. 58). Every failure raises ``ApplicantInvalid``,
which names the field and the rule but never repeats the value: the values are
personal data and end up in logs and ``--json`` output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

from ..errors import InvalidInput

__all__ = [
    "ApplicantInvalid",
    "ResidentId",
    "Uscc",
    "age_on",
    "check_card_number",
    "convert_15_to_18",
    "normalise_mobile",
    "parse_resident_id",
    "parse_uscc",
    "resident_id_check_character",
    "uscc_check_character",
]

Sex = Literal["M", "F"]


class ApplicantInvalid(InvalidInput):
    """One applicant field breaks one rule.

    ``field`` is the field's name (``id_number``, ``agent.id_number``, ``mobile``...),
    ``rule`` a stable short name (``format``, ``check-character``, ``age``...) and
    ``reason`` a plain sentence. ``row`` is set when the applicant came from a file.
    """

    code = "applicant-invalid"

    def __init__(self, field: str, rule: str, reason: str, *, row: int | None = None) -> None:
        self.field = field
        self.rule = rule
        self.reason = reason
        self.row = row
        where = f"row {row}: " if row is not None else ""
        super().__init__(f"{where}{field}: {reason}")

    def at_row(self, row: int) -> ApplicantInvalid:
        """The same error, placed at a row of a batch."""
        return ApplicantInvalid(self.field, self.rule, self.reason, row=row)

    def to_dict(self) -> dict[str, object]:
        return {
            **super().to_dict(),
            "field": self.field,
            "rule": self.rule,
            "reason": self.reason,
            "row": self.row,
        }


# --- shared input cleaning -------------------------------------------------------------

# Chinese input methods in full-width mode type "１１０１…Ｘ"; folding the full-width
# ASCII block (U+FF01-U+FF5E) and the ideographic space keeps a counter from rejecting
# a number that is right but typed in the wrong mode. Nothing else is folded: NFKC
# would also turn "①" or "²" into digits, which nobody means.
_HALFWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


def _clean(text: object, field: str) -> str:
    """The text, half-width and stripped; rejects non-text and blank values."""
    if not isinstance(text, str):
        raise ApplicantInvalid(field, "type", "must be text")
    cleaned = text.translate(_HALFWIDTH).strip()
    if not cleaned:
        raise ApplicantInvalid(field, "required", "is required")
    return cleaned


# --- resident identity number: GB 11643-1999 (DOMAIN.md §1) --------------------------------

# §1.2: provinces 11-15, 21-23, 31-37, 41-46, 50-54, 61-65, Taiwan 71, and the
# Hong Kong / Macao / Taiwan residence-permit codes 81/82/83.
PROVINCE_PREFIXES = frozenset(
    f"{n:02d}"
    for n in (
        *range(11, 16),
        *range(21, 24),
        *range(31, 38),
        *range(41, 47),
        *range(50, 55),
        *range(61, 66),
        71,
        81,
        82,
        83,
    )
)
# §1.3: weight of body position i (from the left) is 2^(17-i) mod 11.
_ID_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
# Indexed by S mod 11; equivalently (12 - r) mod 11 with 10 written X.
_ID_CHECK = "10X98765432"
_ID18 = re.compile(r"[0-9]{17}[0-9X]")
_ID15 = re.compile(r"[0-9]{15}")
# §1.4: no 1900 floor (the standard's own example is from 1880); 1800 is a sanity floor.
_EARLIEST_BIRTH = date(1800, 1, 1)


@dataclass(frozen=True)
class ResidentId:
    """A parsed 18-character resident identity number (公民身份号码).

    ``birth_date`` and ``sex`` are ``None`` only for a foreign permanent-resident
    number (leading ``9``, accepted with ``allow_foreign=True``): only its leading
    digit and its check character are established (DOMAIN.md §1.2), so sitoken does
    not read a birth date or sex out of it.
    """

    number: str
    address_code: str
    birth_date: date | None
    sequence: str
    sex: Sex | None
    check: str

    @property
    def is_foreign(self) -> bool:
        return self.number.startswith("9")


def resident_id_check_character(body: str) -> str:
    """The ISO 7064 MOD 11-2 check character (``0``-``9`` or ``X``) for a 17-digit body."""
    if not re.fullmatch(r"[0-9]{17}", body):
        raise ApplicantInvalid("id_number", "format", "body must be 17 digits")
    total = sum(int(digit) * weight for digit, weight in zip(body, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def parse_resident_id(
    text: object,
    *,
    today: date | None = None,
    allow_foreign: bool = False,
    field: str = "id_number",
) -> ResidentId:
    """Parse and check an 18-character resident ID number, in DOMAIN.md §1.4's order.

    Checks the format (17 digits + digit or ``X``; a lower-case ``x`` is accepted),
    the province prefix, that the birth date is a calendar date between 1800-01-01 and
    ``today`` (default: the system date), and the MOD 11-2 check character. It does
    **not** check the address code against GB/T 2260: numbers keep abolished codes
    for life. Foreign permanent-resident numbers (leading ``9``) are refused unless
    ``allow_foreign`` is true; then only their check character is verified.
    """
    number = _clean(text, field).upper()
    if not _ID18.fullmatch(number):
        raise _id_format_error(number, field)
    foreign = number.startswith("9")
    if foreign and not allow_foreign:
        raise ApplicantInvalid(
            field, "address-code", "foreign permanent-resident numbers are not accepted here"
        )
    if not foreign and number[:2] not in PROVINCE_PREFIXES:
        raise ApplicantInvalid(field, "address-code", "unknown province prefix")
    birth = None if foreign else _birth_date(number[6:14], today or date.today(), field)
    if resident_id_check_character(number[:17]) != number[17]:
        raise ApplicantInvalid(field, "check-character", "check character does not match")
    sex: Sex | None = None if foreign else ("M" if int(number[16]) % 2 else "F")
    return ResidentId(number, number[:6], birth, number[14:17], sex, number[17])


def _id_format_error(number: str, field: str) -> ApplicantInvalid:
    if _ID15.fullmatch(number):
        reason = "old 15-digit number: give the 18-digit number"
    else:
        reason = "must be 17 digits followed by a digit or X"
    return ApplicantInvalid(field, "format", reason)


def _birth_date(yyyymmdd: str, today: date, field: str) -> date:
    try:
        birth = date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:]))
    except ValueError:
        raise ApplicantInvalid(field, "birth-date", "birth date is not a calendar date") from None
    if not _EARLIEST_BIRTH <= birth <= today:
        raise ApplicantInvalid(field, "birth-date", "birth date is out of range")
    return birth


def convert_15_to_18(text: object, *, today: date | None = None, field: str = "id_number") -> str:
    """Convert an old 15-digit number to its 18-character form (DOMAIN.md §1.5).

    ``19`` is put before the ``YYMMDD`` birth date and the check character appended;
    the result then goes through ``parse_resident_id``. A holder born before 1900
    would be converted wrongly: use this for legacy data only, never to match records.
    """
    number = _clean(text, field)
    if not _ID15.fullmatch(number):
        raise ApplicantInvalid(field, "format", "old numbers are 15 digits")
    body = number[:6] + "19" + number[6:]
    converted = body + resident_id_check_character(body)
    return parse_resident_id(converted, today=today, field=field).number


def age_on(birth: date, day: date, *, field: str = "id_number") -> int:
    """Age in whole years on ``day``.

    One year fewer when ``day``'s month and day come before the birth month and day.
    So someone born on 29 February gains a year on 1 March in a non-leap year
    (28 February is still before their birthday) and on 29 February in a leap year.
    """
    if day < birth:
        raise ApplicantInvalid(field, "birth-date", "birth date is after the application date")
    before_birthday = (day.month, day.day) < (birth.month, birth.day)
    return day.year - birth.year - before_birthday


# --- Unified Social Credit Code: GB 32100-2015 (DOMAIN.md §2) ------------------------------

# §2.2: digits and capitals without I, O, S, V, Z, valued 0-30 in this order.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {char: value for value, char in enumerate(USCC_ALPHABET)}
_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
# §2.4: GB 11714 organisation-code weights over positions 9-16.
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
# §2.5: known registration-authority → category codes. Authorities add codes, so an
# unknown pair is a warning only.
_USCC_CATEGORIES = {
    "1": "1239",
    "2": "19",
    "3": "123459",
    "4": "19",
    "5": "1239",
    "6": "129",
    "7": "129",
    "8": "19",
    "9": "123",
    "A": "19",
    "N": "1239",
    "Y": "1",
}


@dataclass(frozen=True)
class Uscc:
    """A parsed Unified Social Credit Code (统一社会信用代码).

    ``warnings`` lists the checks that failed but do not reject the code: the
    GB 11714 check on positions 9-17 (assigned by other registries) and an unknown
    registration-authority/category pair (new codes get added).
    """

    code: str
    registration_authority: str
    category: str
    division_code: str
    subject_id: str
    check: str
    warnings: tuple[str, ...] = ()


def uscc_check_character(body: str) -> str:
    """The GB 32100 mod-31 check character for a 17-character body."""
    if len(body) != 17 or any(char not in _USCC_VALUE for char in body):
        raise ApplicantInvalid("credit_code", "format", "body must be 17 code characters")
    total = sum(
        _USCC_VALUE[char] * weight for char, weight in zip(body, _USCC_WEIGHTS, strict=True)
    )
    # A sum that is 0 mod 31 gives 31, which the standard writes 0: hence the outer mod.
    return USCC_ALPHABET[(31 - total % 31) % 31]


def parse_uscc(text: object, *, field: str = "credit_code") -> Uscc:
    """Parse and check a Unified Social Credit Code (DOMAIN.md §2).

    Rejects a wrong format (18 characters from the 31-character alphabet, digits only
    in positions 3-8) or a wrong mod-31 check character. Letters may be given in
    lower case. Positions 1-2 may be letters (``A``, ``N``, ``Y``).
    """
    code = _clean(text, field).upper()
    _check_uscc_format(code, field)
    if uscc_check_character(code[:17]) != code[17]:
        raise ApplicantInvalid(field, "check-character", "check character does not match")
    return Uscc(
        code=code,
        registration_authority=code[0],
        category=code[1],
        division_code=code[2:8],
        subject_id=code[8:17],
        check=code[17],
        warnings=_uscc_warnings(code),
    )


def _check_uscc_format(code: str, field: str) -> None:
    if len(code) != 18:
        raise ApplicantInvalid(field, "format", "must be 18 characters")
    if any(char not in _USCC_VALUE for char in code):
        raise ApplicantInvalid(
            field, "format", "contains a character outside the code alphabet (no I, O, S, V, Z)"
        )
    if not code[2:8].isdigit():
        raise ApplicantInvalid(field, "format", "positions 3-8 must be digits")


def _uscc_warnings(code: str) -> tuple[str, ...]:
    warnings = []
    if _organisation_code_check(code[8:16]) != code[16]:
        warnings.append("positions 9-17 fail the GB 11714 organisation-code check")
    if code[1] not in _USCC_CATEGORIES.get(code[0], ""):
        warnings.append("unknown registration-authority/category pair")
    return tuple(warnings)


def _organisation_code_check(body: str) -> str:
    """The GB 11714 check character for an 8-character body from the code alphabet."""
    # Here letters take their full-alphabet values, A=10 ... Z=35 (DOMAIN.md §2.4).
    total = sum(int(char, 36) * weight for char, weight in zip(body, _ORG_WEIGHTS, strict=True))
    value = 11 - total % 11
    return {10: "X", 11: "0"}.get(value, str(value))


# --- mobile and social-security card numbers (DOMAIN.md §3-§4) ------------------------------

# [0-9], not \d: \d also matches Arabic-Indic and other Unicode digits.
_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_MOBILE_SEPARATORS = re.compile(r"[\s\-‐‑‒–]")
_CARD_NUMBER = re.compile(r"[0-9A-Z]{8,9}")


def normalise_mobile(text: object, *, field: str = "mobile") -> str:
    """A mainland mobile number as 11 digits, or ``ApplicantInvalid``.

    Whitespace and hyphens are removed, then a leading ``+86`` or ``0086``; the rest
    must match the loose pattern ``1[3-9]`` + 9 digits. Operators add number ranges
    over time, so no range list is kept: ownership is confirmed by SMS instead.
    """
    number = _MOBILE_SEPARATORS.sub("", _clean(text, field))
    for prefix in ("+86", "0086"):
        if number.startswith(prefix):
            number = number[len(prefix) :]
            break
    if not _MOBILE.fullmatch(number):
        raise ApplicantInvalid(field, "format", "must be an 11-digit mainland mobile number")
    return number


def check_card_number(text: object, *, field: str = "card_number") -> str:
    """A social-security card number (社会保障卡卡号), kept as an opaque value.

    No national check algorithm is published and regions number cards differently,
    so only the shape is checked: 8 or 9 digits or capital letters.
    """
    number = _clean(text, field).upper()
    if not _CARD_NUMBER.fullmatch(number):
        raise ApplicantInvalid(field, "format", "must be 8 or 9 digits or capital letters")
    return number
