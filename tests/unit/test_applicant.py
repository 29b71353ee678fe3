"""Applicant records: validation, the age rule, and loading batches from JSON, CSV and dicts."""

from __future__ import annotations

import contextlib
import json
from datetime import date
from pathlib import Path
from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sitoken.errors import InvalidInput
from sitoken.provisioning.applicant import (
    CSV_COLUMNS,
    Agent,
    ApplicantInvalid,
    BatchInvalid,
    OrganisationApplicant,
    PersonalApplicant,
    applicant_from_dict,
    load_applicants,
    validate,
    validate_all,
)
from sitoken.provisioning.identifiers import resident_id_check_character

ON = date(2025, 1, 1)
# Synthetic numbers from DOMAIN.md §1.6 and §2.6 (see tests/unit/vectors/).
HOLDER = "110105199003071239"  # M, 1990-03-07
AGENT_ID = "320102198511200012"  # M, 1985-11-20
LEAP_DAY = "440305200002292462"  # F, 2000-02-29
USCC = "91350100M000100Y43"


def person(**changes: object) -> PersonalApplicant:
    fields: dict[str, object] = {"name": "张三", "id_number": HOLDER, "mobile": "13800138000"}
    return PersonalApplicant(**{**fields, **changes})  # type: ignore[arg-type]


def agent(**changes: object) -> Agent:
    fields: dict[str, object] = {"name": "李四", "id_number": AGENT_ID, "authorisation_ref": "A-1"}
    return Agent(**{**fields, **changes})  # type: ignore[arg-type]


def organisation(**changes: object) -> OrganisationApplicant:
    fields: dict[str, object] = {"name": "某某有限公司", "credit_code": USCC, "agent": agent()}
    return OrganisationApplicant(**{**fields, **changes})  # type: ignore[arg-type]


def born_on(birth: date) -> str:
    body = "110105" + birth.strftime("%Y%m%d") + "001"
    return body + resident_id_check_character(body)


def problems(results: list) -> list[tuple[int | None, str, str]]:  # type: ignore[type-arg]
    return [(e.row, e.field, e.rule) for result in results for e in result.errors]


# --- personal ---------------------------------------------------------------------------------


def test_valid_person_is_normalised() -> None:
    checked = validate(
        person(name=" 张三 ", id_number="11010519491231002x", mobile="+86 138-0013-8000",
               card_number="a1234567"),
        on=ON,
    )  # fmt: skip
    assert checked.applicant == PersonalApplicant(
        "张三", "11010519491231002X", "13800138000", "A1234567", None
    )
    assert checked.age == 75
    assert checked.holder_id is not None and checked.holder_id.sex == "F"
    assert checked.warnings == ()


@pytest.mark.parametrize(
    "changes, field, rule",
    [
        ({"name": "  "}, "name", "required"),
        ({"name": "张\u200b三"}, "name", "characters"),
        ({"name": "张\t三"}, "name", "characters"),
        ({"name": "张" * 65}, "name", "length"),
        ({"id_number": "110105199003071238"}, "id_number", "check-character"),
        ({"id_number": "110105900307123"}, "id_number", "format"),
        ({"mobile": "12345678901"}, "mobile", "format"),
        ({"mobile": 13800138000}, "mobile", "type"),
        ({"card_number": "1234567"}, "card_number", "format"),
        ({"agent": agent(id_number="320102198511200013")}, "agent.id_number", "check-character"),
        ({"agent": agent(name="")}, "agent.name", "required"),
        ({"agent": agent(authorisation_ref=" ")}, "agent.authorisation_ref", "required"),
        ({"agent": agent(id_number=HOLDER)}, "agent.id_number", "same-person"),
        ({"agent": agent(id_number=born_on(date(2010, 1, 1)))}, "agent.id_number", "age"),
    ],
)
def test_person_field_errors(changes: dict[str, object], field: str, rule: str) -> None:
    with pytest.raises(ApplicantInvalid) as caught:
        validate(person(**changes), on=ON)
    assert (caught.value.field, caught.value.rule) == (field, rule)
    assert isinstance(caught.value, InvalidInput)


def test_blank_card_number_counts_as_absent() -> None:
    checked = validate(person(card_number="  "), on=ON).applicant
    assert isinstance(checked, PersonalApplicant) and checked.card_number is None


def test_person_with_agent() -> None:
    checked = validate(person(agent=agent()), on=ON)
    assert checked.agent_id is not None and checked.agent_id.number == AGENT_ID


# --- the age rule ------------------------------------------------------------------------------


def test_sixteenth_birthday_is_old_enough() -> None:
    assert validate(person(id_number=born_on(date(2009, 1, 1))), on=ON).age == 16


def test_day_before_sixteenth_birthday_is_too_young() -> None:
    with pytest.raises(ApplicantInvalid) as caught:
        validate(person(id_number=born_on(date(2009, 1, 2))), on=ON)
    assert (caught.value.field, caught.value.rule) == ("id_number", "age")
    assert "16" in caught.value.reason


@pytest.mark.parametrize(
    "on, min_age, ok",
    [
        (date(2016, 2, 28), 16, False),
        (date(2016, 2, 29), 16, True),  # 2016 is a leap year: the birthday itself
        (date(2017, 2, 28), 17, False),  # not a leap year: still 16 on 28 February
        (date(2017, 3, 1), 17, True),  # ...and 17 on 1 March
    ],
)
def test_leap_day_birth(on: date, min_age: int, ok: bool) -> None:
    applicant = person(id_number=LEAP_DAY)
    if ok:
        assert validate(applicant, on=on, min_age=min_age).age == min_age
    else:
        with pytest.raises(ApplicantInvalid, match="under"):
            validate(applicant, on=on, min_age=min_age)


def test_application_date_before_birth_is_refused() -> None:
    with pytest.raises(ApplicantInvalid) as caught:
        validate(person(), on=date(1990, 3, 6))
    assert caught.value.rule == "birth-date"


def test_foreign_number_only_when_allowed_and_with_a_warning() -> None:
    foreign = person(id_number="911000198503101236")
    with pytest.raises(ApplicantInvalid, match="foreign"):
        validate(foreign, on=ON)
    checked = validate(foreign, on=ON, allow_foreign=True)
    assert checked.age is None
    assert checked.warnings == ("id_number: foreign permanent-resident number; age not checked",)


# --- organisation --------------------------------------------------------------------------------


def test_valid_organisation() -> None:
    checked = validate(organisation(credit_code="91350100m000100y43"), on=ON)
    assert isinstance(checked.applicant, OrganisationApplicant)
    assert checked.applicant.credit_code == USCC
    assert checked.applicant.authorisation_ref == "A-1"
    assert checked.credit_code is not None and checked.credit_code.category == "1"
    assert checked.age is None


def test_organisation_warnings_are_passed_on() -> None:
    checked = validate(organisation(credit_code="91440300MA5G0P1R75"), on=ON)
    assert checked.warnings == (
        "credit_code: positions 9-17 fail the GB 11714 organisation-code check",
    )


@pytest.mark.parametrize(
    "changes, field, rule",
    [
        ({"credit_code": "91350100M000100Y44"}, "credit_code", "check-character"),
        ({"credit_code": ""}, "credit_code", "required"),
        ({"agent": None}, "agent", "required"),
        ({"agent": agent(id_number="110105199003071238")}, "agent.id_number", "check-character"),
        ({"agent": agent(id_number=born_on(date(2009, 1, 2)))}, "agent.id_number", "age"),
    ],
)
def test_organisation_field_errors(changes: dict[str, object], field: str, rule: str) -> None:
    with pytest.raises(ApplicantInvalid) as caught:
        validate(organisation(**changes), on=ON)
    assert (caught.value.field, caught.value.rule) == (field, rule)


# --- batches: all problems of every row --------------------------------------------------------


def test_validate_all_reports_every_problem_of_every_row() -> None:
    results = validate_all(
        [
            person(),
            person(name="", id_number="110105199003071238", mobile="1"),
            organisation(credit_code="X", agent=agent(name="")),
        ],
        on=ON,
    )
    assert [result.ok for result in results] == [True, False, False]
    assert problems(results) == [
        (2, "name", "required"),
        (2, "id_number", "check-character"),
        (2, "mobile", "format"),
        (3, "credit_code", "format"),
        (3, "agent.name", "required"),
    ]
    assert results[0].validated is not None
    assert results[1].validated is None


def test_validate_raises_the_first_problem_only() -> None:
    with pytest.raises(ApplicantInvalid) as caught:
        validate(person(name="", mobile="1"), on=ON)
    assert caught.value.field == "name"


def test_row_result_to_dict_carries_no_personal_data() -> None:
    results = validate_all([person(id_number="110105199003071238", mobile="13800138000")], on=ON)
    out = json.dumps([result.to_dict() for result in results], ensure_ascii=False)
    assert "110105199003071238" not in out and "13800138000" not in out and "张三" not in out
    assert json.loads(out)[0]["errors"][0]["field"] == "id_number"


# --- JSON and dicts ------------------------------------------------------------------------------

PERSON_RECORD = {"kind": "personal", "name": "张三", "id_number": HOLDER, "mobile": "13800138000"}
ORGANISATION_RECORD = {
    "kind": "organisation",
    "name": "某某有限公司",
    "credit_code": USCC,
    "agent": {"name": "李四", "id_number": AGENT_ID, "authorisation_ref": "A-1"},
}


def test_from_dict() -> None:
    assert applicant_from_dict(PERSON_RECORD) == person()
    assert applicant_from_dict(ORGANISATION_RECORD) == organisation()


def test_load_json_object_and_list() -> None:
    assert load_applicants(json.dumps(PERSON_RECORD)) == [person()]
    loaded = load_applicants(json.dumps([PERSON_RECORD, ORGANISATION_RECORD]), format="json")
    assert loaded == [person(), organisation()]


def test_load_from_dicts() -> None:
    assert load_applicants([PERSON_RECORD, ORGANISATION_RECORD]) == [person(), organisation()]
    assert load_applicants(PERSON_RECORD) == [person()]


def test_load_json_file(tmp_path: Path) -> None:
    path = tmp_path / "batch.json"
    path.write_text(json.dumps([ORGANISATION_RECORD], ensure_ascii=False), encoding="utf-8")
    assert load_applicants(path) == [organisation()]
    assert load_applicants(str(path)) == [organisation()]


def test_json_structural_problems_have_row_numbers() -> None:
    records = [
        PERSON_RECORD,
        {**PERSON_RECORD, "kind": "company"},
        {**PERSON_RECORD, "id_numbr": "x"},
        "not an object",
        {**PERSON_RECORD, "credit_code": USCC},
        {**ORGANISATION_RECORD, "agent": "李四"},
        {**PERSON_RECORD, "mobile": 13800138000},
        {**ORGANISATION_RECORD, "agent": {**ORGANISATION_RECORD["agent"], "phone": "1"}},  # type: ignore[dict-item]
        {"name": "x"},
    ]
    with pytest.raises(BatchInvalid) as caught:
        load_applicants(json.dumps(records))
    assert [(e.row, e.field, e.rule) for e in caught.value.errors] == [
        (2, "kind", "value"),
        (3, "id_numbr", "unknown-field"),
        (4, "row", "type"),
        (5, "credit_code", "unknown-field"),
        (6, "agent", "type"),
        (7, "mobile", "type"),
        (8, "agent.phone", "unknown-field"),
        (9, "kind", "required"),
    ]
    assert caught.value.to_dict()["error"] == "batch-invalid"
    assert len(caught.value.to_dict()["errors"]) == 8  # type: ignore[arg-type]


def test_structural_and_value_problems_together() -> None:
    # A field that could not be read is reported once, not again by validation.
    results = validate_all([{**PERSON_RECORD, "mobile": 1, "id_number": "1"}], on=ON)
    assert problems(results) == [(1, "id_number", "format"), (1, "mobile", "type")]


@pytest.mark.parametrize(
    "text, rule",
    [("[1, 2", "json"), (b"42", "json"), (b'"text"', "json"), ("[" * 100_000, "json")],
)
def test_unreadable_json(text: str | bytes, rule: str) -> None:
    with pytest.raises(BatchInvalid) as caught:
        load_applicants(text, format="json")
    assert [(e.field, e.rule) for e in caught.value.errors] == [("file", rule)]


# --- CSV ---------------------------------------------------------------------------------------

HEADER = ",".join(CSV_COLUMNS)
CSV_PERSON = f"personal,张三,{HOLDER},13800138000,,,,,"
CSV_ORGANISATION = f"organisation,某某有限公司,,,,{USCC},李四,{AGENT_ID},A-1"


def test_csv_columns_are_documented_order() -> None:
    assert CSV_COLUMNS == (
        "kind", "name", "id_number", "mobile", "card_number", "credit_code",
        "agent_name", "agent_id_number", "agent_authorisation_ref",
    )  # fmt: skip


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["no-bom", "bom"])
@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_csv_file_with_or_without_bom(tmp_path: Path, bom: bytes, newline: str) -> None:
    path = tmp_path / "batch.csv"
    path.write_bytes(bom + newline.join([HEADER, CSV_PERSON, CSV_ORGANISATION, ""]).encode())
    assert load_applicants(path) == [person(), organisation()]
    assert load_applicants(path.read_bytes()) == [person(), organisation()]


def test_csv_text_with_bom_and_loose_header() -> None:
    header = "\ufeff Kind ,NAME,Id_Number,mobile"
    text = "\n".join([header, f"personal,张三,{HOLDER},13800138000"])
    assert load_applicants(text) == [person()]


def test_csv_person_with_agent() -> None:
    text = "\n".join([HEADER, f"personal,张三,{HOLDER},13800138000,,,李四,{AGENT_ID},A-1"])
    assert load_applicants(text) == [person(agent=agent())]


def test_csv_header_problems_are_all_reported_on_row_1() -> None:
    with pytest.raises(BatchInvalid) as caught:
        load_applicants("kind,nmae,mobile,mobile\npersonal,张三,1,1\n", format="csv")
    assert [(e.row, e.field, e.rule) for e in caught.value.errors] == [
        (1, "nmae", "unknown-column"),
        (1, "mobile", "duplicate-column"),
        (1, "name", "missing-column"),
    ]


def test_csv_missing_optional_columns_are_fine_until_a_row_needs_them() -> None:
    text = "kind,name,id_number\npersonal,张三,110105199003071239\n"
    results = validate_all(text, on=ON)
    assert problems(results) == [(2, "mobile", "required")]


def test_csv_bad_rows_reported_with_spreadsheet_row_numbers() -> None:
    text = "\n".join(
        [
            HEADER,  # row 1
            CSV_PERSON,  # row 2: fine
            ",,,,,,,,",  # row 3: blank, skipped
            f"personal,王五,{HOLDER[:-1]}8,1380013800,,,,,",  # row 4
            f"organisation,某某有限公司,,,,{USCC[:-1]}4,,,",  # row 5
            f"personal,张三,{HOLDER},13800138000,,,,,,extra",  # row 6
            'personal,"赵\n六",' + f"{HOLDER},13800138000",  # row 7: quoted line break
            f"organization,某某有限公司,,,,{USCC},李四,{AGENT_ID},A-1",  # row 8
            f"personal,张三,{HOLDER},13800138000,,{USCC},,,",  # row 9
        ]
    )
    results = validate_all(text, on=ON)
    assert [result.row for result in results] == [2, 4, 5, 6, 7, 8, 9]
    assert problems(results) == [
        (4, "id_number", "check-character"),
        (4, "mobile", "format"),
        (5, "credit_code", "check-character"),
        (5, "agent", "required"),
        (6, "row", "stray-cells"),
        (7, "name", "characters"),
        (8, "kind", "value"),
        (9, "credit_code", "unknown-field"),
    ]
    assert str(results[1].errors[0]) == "row 4: id_number: check character does not match"


@pytest.mark.parametrize(
    "source, rule",
    [
        ("张三".encode("gbk") + b",x\n1,2\n", "encoding"),
        (b"", "csv"),
        ('kind,name\n"unterminated\n', None),
    ],
    ids=["gbk", "empty", "unterminated-quote"],
)
def test_unreadable_csv(source: bytes | str, rule: str | None) -> None:
    if rule is None:
        # The csv module reads an unterminated quote to the end of the file: one odd row.
        assert problems(validate_all(source, on=ON, format="csv"))
        return
    with pytest.raises(BatchInvalid) as caught:
        load_applicants(source, format="csv")
    assert [(e.field, e.rule) for e in caught.value.errors] == [("file", rule)]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BatchInvalid) as caught:
        load_applicants(tmp_path / "absent.csv")
    assert caught.value.errors[0].rule == "unreadable"


def test_unknown_format_and_source() -> None:
    with pytest.raises(InvalidInput):
        load_applicants("[]", format="xml")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        load_applicants(42)  # type: ignore[arg-type]


def test_docs_examples_are_valid() -> None:
    # docs/applicants.md shows a CSV and a JSON batch; both must pass as documented.
    doc = (Path(__file__).parents[2] / "docs" / "applicants.md").read_text(encoding="utf-8")
    for fence in ("csv", "json"):
        example = doc.split(f"```{fence}\n", 1)[1].split("```", 1)[0]
        results = validate_all(example, on=date(2025, 3, 3), format=fence)
        assert len(results) == 3 and all(result.ok for result in results), fence


# --- properties --------------------------------------------------------------------------------

_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
_RECORDS = st.fixed_dictionaries(
    {},
    optional={
        key: st.one_of(_JSON_VALUES, st.sampled_from(["personal", "organisation", HOLDER, USCC]))
        for key in ("kind", "name", "id_number", "mobile", "card_number", "credit_code", "agent")
    },
)


@given(content=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_any_file_content_raises_only_invalid_input(content: bytes) -> None:
    formats: tuple[Literal["csv"], Literal["json"]] = ("csv", "json")
    for format in formats:
        # Anything but InvalidInput (its subclass BatchInvalid included) fails the test.
        with contextlib.suppress(InvalidInput):
            validate_all(content, on=ON, format=format)


@given(records=st.lists(_RECORDS | _JSON_VALUES, max_size=4))
def test_any_records_give_row_results(records: list[object]) -> None:
    results = validate_all(records, on=ON)  # type: ignore[arg-type]
    assert [result.row for result in results] == list(range(1, len(records) + 1))
    for result in results:
        assert result.ok == (result.validated is not None)
        json.dumps(result.to_dict())
