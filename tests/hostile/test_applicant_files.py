"""Hostile applicant files: loading raises only BatchInvalid/InvalidInput; validate_all reports rows.

The contract (docs/applicants.md, "Errors"): every problem is an ApplicantInvalid (an
InvalidInput); a file that cannot be read at all raises BatchInvalid; validate_all puts the
problems of readable rows into their RowResult instead of raising.
"""

from __future__ import annotations

import json
from datetime import date

from hostile_support import fuzz_settings, mutated, mutated_text, run_parser
from hypothesis import example, given
from hypothesis import strategies as st

from sitoken.errors import InvalidInput
from sitoken.provisioning.applicant import CSV_COLUMNS, BatchInvalid, load_applicants, validate_all

ON = date(2025, 1, 1)
# Synthetic numbers from DOMAIN.md §1.6 and §2.6, the same as tests/unit/test_applicant.py.
HOLDER = "110105199003071239"
AGENT_ID = "320102198511200012"
USCC = "91350100M000100Y43"

CSV_SEED = "\n".join([
    ",".join(CSV_COLUMNS),
    f"personal,张三,{HOLDER},13800138000,,,,,",
    f"organisation,某某有限公司,,,,{USCC},李四,{AGENT_ID},A-1",
    f'personal,"Zhang, San",{HOLDER},+86 138-0013-8000,,,李四,{AGENT_ID},A-2',
]) + "\n"
JSON_SEED = json.dumps([
    {"kind": "personal", "name": "张三", "id_number": HOLDER, "mobile": "13800138000"},
    {"kind": "organisation", "name": "某某有限公司", "credit_code": USCC,
     "agent": {"name": "李四", "id_number": AGENT_ID, "authorisation_ref": "A-1"}},
], ensure_ascii=False)

LOAD_ERRORS = (InvalidInput,)  # BatchInvalid is one; load_applicants documents BatchInvalid


def test_seeds_are_valid() -> None:
    for seed in (CSV_SEED, JSON_SEED):
        assert all(result.ok for result in validate_all(seed, on=ON)), seed


def _as_content(text: str) -> str:
    # A str without a line break is read as a file name: keep fuzzed text as content.
    return text if "\n" in text or text.lstrip("\ufeff \t").startswith(("{", "[")) else text + "\n"


def _load_and_validate(source: str | bytes) -> None:
    applicants = run_parser("provisioning.applicant.load_applicants", LOAD_ERRORS, load_applicants, source)
    results = run_parser("provisioning.applicant.validate_all", LOAD_ERRORS, validate_all, source, on=ON)
    if results is None:
        return
    for result in results:
        # Row problems are reported, never raised, and carry no applicant data in to_dict().
        assert result.ok == (not result.errors)
        assert all(isinstance(error, InvalidInput) for error in result.errors)
        json.dumps(result.to_dict())
    if applicants is not None:
        assert len(applicants) == len(results)


@fuzz_settings(max_examples=300)
@given(st.data())
def test_csv_mutated(data: st.DataObject) -> None:
    text = data.draw(mutated_text(CSV_SEED))
    _load_and_validate(_as_content(text))


@fuzz_settings(max_examples=300)
@given(st.data())
def test_json_mutated(data: st.DataObject) -> None:
    text = data.draw(mutated_text(JSON_SEED))
    _load_and_validate(_as_content(text))


@fuzz_settings(max_examples=150)
@given(st.data())
def test_file_bytes_mutated(data: st.DataObject) -> None:
    # Bytes are file content: broken UTF-8, a BOM, NULs from a spreadsheet export.
    seed = data.draw(st.sampled_from((CSV_SEED, JSON_SEED))).encode("utf-8")
    _load_and_validate(data.draw(mutated(seed) | st.binary(max_size=200)))


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)
_FIELDS = st.sampled_from(
    ("kind", "name", "id_number", "mobile", "card_number", "credit_code", "agent", "extra")
)
_RECORDS = st.dictionaries(_FIELDS, _JSON_VALUES | st.sampled_from(("personal", "organisation", HOLDER)),
                           max_size=7)


@fuzz_settings(max_examples=200)
@given(st.lists(_RECORDS, max_size=4) | _JSON_VALUES)
@example([{"kind": "personal", "agent": []}])
@example({"kind": "organisation", "agent": {"name": 1, "id_number": None}})
@example([[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]])
def test_json_of_any_shape(value: object) -> None:
    _load_and_validate(json.dumps(value, ensure_ascii=False) + "\n")


@fuzz_settings(max_examples=30)
@given(st.integers(100, 100_000))
def test_json_nested_beyond_the_parser(depth: int) -> None:
    run_parser("provisioning.applicant.load_applicants", (BatchInvalid,), load_applicants,
               "[" * depth + "]" * depth + "\n", format="json")
