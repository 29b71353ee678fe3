"""Identifier parsers: DOMAIN.md vectors, age rule, and properties of the check characters."""

from __future__ import annotations

import contextlib
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from vectors import vector_file, vector_params

from sitoken.errors import InvalidInput
from sitoken.provisioning.identifiers import (
    PROVINCE_PREFIXES,
    USCC_ALPHABET,
    ApplicantInvalid,
    age_on,
    check_card_number,
    convert_15_to_18,
    normalise_mobile,
    parse_resident_id,
    parse_uscc,
    resident_id_check_character,
    uscc_check_character,
)

TODAY = date.fromisoformat(vector_file("resident_id.json")["today"])


# --- vectors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("row", vector_params("resident_id.json"))
def test_resident_id_vectors(row: dict[str, Any]) -> None:
    if not row["valid"]:
        with pytest.raises(ApplicantInvalid) as caught:
            parse_resident_id(row["input"], today=TODAY)
        assert (caught.value.field, caught.value.rule) == ("id_number", row["rule"])
        return
    parsed = parse_resident_id(row["input"], today=TODAY)
    assert parsed.number == row["number"]
    assert parsed.sex == row["sex"]
    assert parsed.check == row["number"][17]
    assert (parsed.address_code, parsed.sequence) == (row["number"][:6], row["number"][14:17])
    if row["birth_date"]:
        assert parsed.birth_date == date.fromisoformat(row["birth_date"])


@pytest.mark.parametrize("row", vector_params("resident_id_15.json"))
def test_convert_15_to_18_vectors(row: dict[str, Any]) -> None:
    if row["valid"]:
        assert convert_15_to_18(row["input"], today=TODAY) == row["number"]
    else:
        with pytest.raises(ApplicantInvalid) as caught:
            convert_15_to_18(row["input"], today=TODAY)
        assert caught.value.rule == row["rule"]


@pytest.mark.parametrize("row", vector_params("uscc.json"))
def test_uscc_vectors(row: dict[str, Any]) -> None:
    if not row["valid"]:
        with pytest.raises(ApplicantInvalid) as caught:
            parse_uscc(row["input"])
        assert (caught.value.field, caught.value.rule) == ("credit_code", row["rule"])
        return
    parsed = parse_uscc(row["input"])
    assert parsed.code == row["input"].upper()
    assert len(parsed.warnings) == row["warnings"]
    assert parsed.registration_authority + parsed.category == parsed.code[:2]
    assert parsed.division_code == parsed.code[2:8]
    assert parsed.subject_id + parsed.check == parsed.code[8:]


@pytest.mark.parametrize("row", vector_params("mobile.json"))
def test_mobile_vectors(row: dict[str, Any]) -> None:
    if row["valid"]:
        assert normalise_mobile(row["input"]) == row["number"]
    else:
        with pytest.raises(ApplicantInvalid) as caught:
            normalise_mobile(row["input"])
        assert (caught.value.field, caught.value.rule) == ("mobile", row["rule"])


@pytest.mark.parametrize("row", vector_params("card_number.json"))
def test_card_number_vectors(row: dict[str, Any]) -> None:
    if row["valid"]:
        assert check_card_number(row["input"]) == row["number"]
    else:
        with pytest.raises(ApplicantInvalid) as caught:
            check_card_number(row["input"])
        assert (caught.value.field, caught.value.rule) == ("card_number", row["rule"])


@pytest.mark.parametrize(
    "rows, parse",
    [
        (vector_file("resident_id.json")["vectors"], lambda s: parse_resident_id(s, today=TODAY)),
        (vector_file("uscc.json")["vectors"], parse_uscc),
        (vector_file("mobile.json")["vectors"], normalise_mobile),
    ],
    ids=["resident_id", "uscc", "mobile"],
)
def test_errors_never_repeat_the_value(rows: list[dict[str, Any]], parse: Any) -> None:
    # Identifiers are personal data; an error names the field and rule, not the value.
    for row in rows:
        if not row["valid"] and row["input"]:
            with pytest.raises(ApplicantInvalid) as caught:
                parse(row["input"])
            assert row["input"] not in str(caught.value)
            assert row["input"] not in repr(caught.value.to_dict())


# --- resident ID specifics -------------------------------------------------------------------


def test_foreign_number_accepted_when_allowed() -> None:
    parsed = parse_resident_id("911000198503101236", allow_foreign=True, today=TODAY)
    assert parsed.is_foreign
    assert (parsed.birth_date, parsed.sex) == (None, None)


def test_foreign_number_still_needs_its_check_character() -> None:
    with pytest.raises(ApplicantInvalid) as caught:
        parse_resident_id("911000198503101237", allow_foreign=True, today=TODAY)
    assert caught.value.rule == "check-character"


def test_birth_today_is_accepted_and_tomorrow_is_not() -> None:
    body = "110105" + TODAY.strftime("%Y%m%d") + "001"
    assert parse_resident_id(body + resident_id_check_character(body), today=TODAY)
    with pytest.raises(ApplicantInvalid, match="out of range"):
        parse_resident_id(body + resident_id_check_character(body), today=TODAY - timedelta(1))


def test_field_name_is_carried() -> None:
    with pytest.raises(ApplicantInvalid) as caught:
        parse_resident_id("x", field="agent.id_number")
    assert caught.value.field == "agent.id_number"
    assert caught.value.to_dict()["field"] == "agent.id_number"
    assert str(caught.value).startswith("agent.id_number: ")


@pytest.mark.parametrize("value", [None, 110105199003071239, b"110105199003071239"])
def test_non_text_is_rejected(value: object) -> None:
    with pytest.raises(ApplicantInvalid) as caught:
        parse_resident_id(value)
    assert caught.value.rule == "type"


def test_error_is_an_invalid_input_with_a_stable_code() -> None:
    error = ApplicantInvalid("mobile", "format", "bad", row=3)
    assert isinstance(error, InvalidInput)
    assert error.to_dict() == {
        "error": "applicant-invalid",
        "message": "row 3: mobile: bad",
        "field": "mobile",
        "rule": "format",
        "reason": "bad",
        "row": 3,
    }


# --- age -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "birth, day, age",
    [
        ("2008-05-01", "2024-05-01", 16),  # the 16th birthday itself
        ("2008-05-01", "2024-04-30", 15),  # the day before
        ("2008-05-01", "2008-05-01", 0),
        ("2000-02-29", "2001-02-28", 0),  # 29 Feb: not yet in a non-leap year...
        ("2000-02-29", "2001-03-01", 1),  # ...but on 1 March
        ("2000-02-29", "2004-02-28", 3),
        ("2000-02-29", "2004-02-29", 4),  # in a leap year, on the day
        ("2084-02-29", "2100-02-28", 15),  # 2100 is not a leap year
        ("2084-02-29", "2100-03-01", 16),
        ("1880-01-01", "2025-01-01", 145),
    ],
)
def test_age_on(birth: str, day: str, age: int) -> None:
    assert age_on(date.fromisoformat(birth), date.fromisoformat(day)) == age


def test_age_before_birth_is_refused() -> None:
    with pytest.raises(ApplicantInvalid) as caught:
        age_on(date(2010, 1, 2), date(2010, 1, 1))
    assert caught.value.rule == "birth-date"


# --- properties ------------------------------------------------------------------------------

_PARSERS = [
    lambda s: parse_resident_id(s, today=TODAY),
    lambda s: parse_resident_id(s, allow_foreign=True),
    convert_15_to_18,
    parse_uscc,
    normalise_mobile,
    check_card_number,
]
# Plain random text rarely gets past the format check, so also feed near-valid shapes.
_TEXT = st.one_of(
    st.text(),
    st.from_regex(r"[0-9]{17}[0-9Xx]", fullmatch=True),
    st.from_regex(r"[0-9]{15}", fullmatch=True),
    st.from_regex(r"[0-9A-Z]{18}", fullmatch=True),
    st.from_regex(r"(\+86|0086)?[ -]?1[0-9 -]{10,12}", fullmatch=True),
    st.text(alphabet="0123456789XxＸ１２ \u3000-+", max_size=20),
)


@pytest.mark.parametrize("parse", _PARSERS)
@given(text=_TEXT)
@example(text="\ud800")
@example(text="ß" * 9)
def test_any_string_raises_only_applicant_invalid(parse: Any, text: str) -> None:
    # Anything else (ValueError, IndexError, UnicodeError...) fails the test.
    with contextlib.suppress(ApplicantInvalid):
        parse(text)


@st.composite
def resident_bodies(draw: st.DrawFn) -> tuple[str, date]:
    prefix = draw(st.sampled_from(sorted(PROVINCE_PREFIXES)))
    birth = draw(st.dates(min_value=date(1800, 1, 1), max_value=TODAY))
    rest = draw(st.from_regex(r"[0-9]{4}", fullmatch=True))
    sequence = draw(st.from_regex(r"[0-9]{3}", fullmatch=True))
    return prefix + rest + birth.strftime("%Y%m%d") + sequence, birth


@given(resident_bodies())
def test_resident_check_character_round_trips(drawn: tuple[str, date]) -> None:
    body, birth = drawn
    check = resident_id_check_character(body)
    parsed = parse_resident_id(body + check.lower(), today=TODAY)
    assert parsed.number == body + check
    assert parsed.birth_date == birth
    assert parsed.sex == ("M" if int(body[16]) % 2 else "F")
    # ISO 7064 MOD 11-2, independently of the table: sum of digit * 2^(i-1) over all 18
    # positions, counted from the right, is 1 mod 11 (DOMAIN.md §1.3).
    values = [10 if char == "X" else int(char) for char in parsed.number]
    assert sum(v * pow(2, 17 - i, 11) for i, v in enumerate(values)) % 11 == 1


def _mod11_2_holds(number: str) -> bool:
    return (
        number[:17].isdigit()
        and number[17] in "0123456789X"
        and (resident_id_check_character(number[:17]) == number[17])
    )


@given(resident_bodies())
def test_mod11_2_detects_every_single_substitution(drawn: tuple[str, date]) -> None:
    body, _ = drawn
    number = body + resident_id_check_character(body)
    for position in range(18):
        choices = "0123456789X" if position == 17 else "0123456789"
        for char in choices.replace(number[position], ""):
            changed = number[:position] + char + number[position + 1 :]
            assert not _mod11_2_holds(changed), (position, char)


@given(resident_bodies())
def test_mod11_2_detects_adjacent_transpositions(drawn: tuple[str, date]) -> None:
    body, _ = drawn
    number = body + resident_id_check_character(body)
    for i in range(17):
        if number[i] != number[i + 1]:
            swapped = number[:i] + number[i + 1] + number[i] + number[i + 2 :]
            if swapped[:17].isdigit():  # an X moved into the body is a format error anyway
                assert not _mod11_2_holds(swapped), i


@st.composite
def uscc_bodies(draw: st.DrawFn) -> str:
    head = draw(st.text(alphabet=USCC_ALPHABET, min_size=2, max_size=2))
    division = draw(st.from_regex(r"[0-9]{6}", fullmatch=True))
    subject = draw(st.text(alphabet=USCC_ALPHABET, min_size=9, max_size=9))
    return head + division + subject


@given(uscc_bodies())
def test_uscc_check_character_round_trips(body: str) -> None:
    check = uscc_check_character(body)
    parsed = parse_uscc(body + check)
    assert parsed.check == check
    # Independently of the formula: with weight 1 on the check, the sum is 0 mod 31.
    values = [USCC_ALPHABET.index(char) for char in parsed.code]
    weights = [pow(3, i, 31) for i in range(17)] + [1]
    assert sum(v * w for v, w in zip(values, weights, strict=True)) % 31 == 0


@given(uscc_bodies())
def test_uscc_check_detects_every_single_substitution(body: str) -> None:
    code = body + uscc_check_character(body)
    for position in range(18):
        for char in USCC_ALPHABET.replace(code[position], ""):
            changed = code[:position] + char + code[position + 1 :]
            assert uscc_check_character(changed[:17]) != changed[17], (position, char)
