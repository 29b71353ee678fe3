"""One ID number with different data is a conflict (in a file and against the journal); --check touches nothing."""

from __future__ import annotations

import sqlite3
from typing import Any

from prov_support import BAD_CHECK, ORG, PERSON, PERSON_2, Bed, write_batch

from sitoken.cli import exitcodes
from sitoken.discovery import list_tokens

OTHER_PERSON = {**PERSON, "name": "Someone Else", "mobile": "13912345678"}  # same ID number, other data
GEN = ("--so-pin-env", "SO_PIN", "--generate-pins")


def rows_by_outcome(summary: dict[str, Any]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for row in summary["rows"]:
        out.setdefault(row["outcome"], []).append(row["row"])
    return out


def journal_counts(bed: Bed) -> tuple[int, int]:
    db = sqlite3.connect(bed.journal)
    try:
        return db.execute("SELECT count(*) FROM enrolments").fetchone()[0], db.execute(
            "SELECT count(*) FROM events").fetchone()[0]
    finally:
        db.close()


def test_rows_naming_one_number_with_different_data_are_a_conflict(prov_cli: Any, bed: Bed) -> None:
    tokens = len(list_tokens())  # the SoftHSM store is shared by the session's tests
    batch = write_batch(bed.root / "b.json", [PERSON, PERSON_2, OTHER_PERSON, PERSON_2])
    done = prov_cli("batch", str(batch), *GEN, str(bed.root / "pins"), "--json")
    assert done.code == exitcodes.BATCH_INCOMPLETE == 15, done.err
    summary = done.json()
    rows = [r["row"] for r in summary["rows"]]
    by = rows_by_outcome(summary)
    # Both rows of PERSON conflict (nobody can tell which is right); PERSON_2's repeat is identical.
    assert by == {"conflict": [rows[0], rows[2]], "done": [rows[1]], "already-done": [rows[3]]}
    conflict = summary["rows"][0]["errors"][0]
    assert conflict["rows"] == [rows[0], rows[2]] and conflict["fields"] == ["mobile", "name"]
    assert PERSON["id_number"] not in done.out and "1101**********1239" in conflict["reason"]
    assert len(list_tokens()) == tokens + 1  # only PERSON_2 got a token

    # Against the journal: PERSON_2 is known with other data.
    changed = write_batch(bed.root / "c.json", [{**PERSON_2, "name": "Li Wu"}, PERSON])
    again = prov_cli("batch", str(changed), *GEN, str(bed.root / "pins"), "--json")
    assert again.code == 15
    first = again.json()["rows"][0]
    assert first["outcome"] == "conflict" and first["errors"][0]["journal"] and first["errors"][0]["fields"] == ["name"]
    assert again.json()["rows"][1]["outcome"] == "done"
    assert len(list_tokens()) == tokens + 2


def test_single_provision_refuses_data_that_contradict_the_journal(prov_cli: Any, bed: Bed) -> None:
    write_batch(bed.root / "p.json", [PERSON])
    tokens = len(list_tokens())
    assert prov_cli("provision", "--applicant", str(bed.root / "p.json"), "--so-pin-env", "SO_PIN",
                    "--holder-pin-env", "HOLDER_PIN").code == 0
    write_batch(bed.root / "o.json", [OTHER_PERSON])
    refused = prov_cli("provision", "--applicant", str(bed.root / "o.json"), "--so-pin-env", "SO_PIN",
                       "--holder-pin-env", "HOLDER_PIN", "--json")
    assert refused.code == exitcodes.INVALID_INPUT
    assert refused.json()["error"] == "applicant-conflict" and refused.json()["fields"] == ["mobile", "name"]
    assert len(list_tokens()) == tokens + 1


def test_check_reports_every_problem_and_touches_nothing(prov_cli: Any, bed: Bed) -> None:
    write_batch(bed.root / "first.json", [PERSON_2])
    assert prov_cli("batch", str(bed.root / "first.json"), *GEN, str(bed.root / "pins")).code == 0
    before_tokens, before_journal = len(list_tokens()), journal_counts(bed)
    batch = write_batch(bed.root / "b.json", [PERSON, BAD_CHECK, OTHER_PERSON, PERSON_2, ORG,
                                               {**PERSON_2, "mobile": "13900000000"}])
    checked = prov_cli("batch", str(batch), "--check", "--json")
    assert checked.code == 15, checked.err
    summary = checked.json()
    assert summary["checked_only"] and not summary["complete"]
    assert [r["outcome"] for r in summary["rows"]] == ["conflict", "invalid", "conflict", "conflict", "ready",
                                                       "conflict"]
    assert len(list_tokens()) == before_tokens and journal_counts(bed) == before_journal
    clean = write_batch(bed.root / "clean.json", [PERSON_2, ORG])
    ok = prov_cli("batch", str(clean), "--check")
    assert ok.code == 0 and "already-done" in ok.out and "ready" in ok.out and "nothing done" in ok.out
