"""Conflicting applicants: one ID number or credit code given with different data.

Two rows (or a row and the journal) that name one holder must say the same thing about
them; otherwise nobody can tell which is right, and the holder is left alone until a clerk
decides. Identical repeats are no conflict. Messages name the differing fields, never
their values, and mask the number.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..errors import InvalidInput
from .applicant import OrganisationApplicant, RowResult, ValidatedApplicant
from .journal import mask

__all__ = ["ApplicantConflict", "Conflict", "applicant_record", "differing_fields", "file_conflicts",
           "subject_key"]


def subject_key(validated: ValidatedApplicant) -> str:
    """What the journal keys a holder by: the resident ID number, or the credit code."""
    applicant = validated.applicant
    return applicant.credit_code if isinstance(applicant, OrganisationApplicant) else applicant.id_number


def applicant_record(validated: ValidatedApplicant) -> dict[str, object]:
    """The normalised applicant as a JSON record (what ``applicant_from_dict`` reads back)."""
    record = {"kind": validated.applicant.kind, **dataclasses.asdict(validated.applicant)}
    normal: dict[str, object] = json.loads(json.dumps(record, ensure_ascii=False, sort_keys=True))
    return normal


def differing_fields(a: Mapping[str, object], b: Mapping[str, object]) -> list[str]:
    """Names of the fields (``agent.name`` for nested ones) whose values differ."""
    out = []
    for name in sorted(set(a) | set(b)):
        left, right = a.get(name), b.get(name)
        if isinstance(left, Mapping) and isinstance(right, Mapping):
            out += [f"{name}.{inner}" for inner in differing_fields(left, right)]
        elif left != right:
            out.append(name)
    return out


@dataclass(frozen=True)
class Conflict:
    """Rows (and perhaps the journal) giving one holder different data."""

    subject: str  # masked
    rows: tuple[int, ...]
    fields: tuple[str, ...]
    journal: bool = False  # the journal's record is one side

    @property
    def reason(self) -> str:
        where = f"row(s) {', '.join(map(str, self.rows))}" if self.rows else "this applicant"
        where += " and the journal" if self.journal else ""
        return (f"{where} name {self.subject} with different {', '.join(self.fields)}: "
                "check the applicant and fix the file")

    def to_dict(self) -> dict[str, object]:
        return {"error": "applicant-conflict", "rule": "conflict", "field": "subject", "subject": self.subject,
                "rows": list(self.rows), "fields": list(self.fields), "journal": self.journal,
                "reason": self.reason, "message": self.reason}


class ApplicantConflict(InvalidInput):
    """An applicant contradicts another row or the journal about the same holder."""

    code = "applicant-conflict"

    def __init__(self, conflict: Conflict) -> None:
        self.conflict = conflict
        super().__init__(conflict.reason)

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), **self.conflict.to_dict()}


def journal_conflict(recorded: Mapping[str, object] | None, validated: ValidatedApplicant,
                     rows: tuple[int, ...] = ()) -> Conflict | None:
    """The conflict between the journal's record of a holder and this applicant, if any."""
    if recorded is None:
        return None
    fields = differing_fields(recorded, applicant_record(validated))
    if not fields:
        return None
    return Conflict(mask(subject_key(validated)), rows, tuple(fields), journal=True)


def file_conflicts(results: Iterable[RowResult]) -> dict[int, Conflict]:
    """Row number -> its conflict, for every row whose holder another row gives different data."""
    groups: dict[str, list[tuple[int, dict[str, object]]]] = {}
    for result in results:
        if result.validated is not None:
            groups.setdefault(subject_key(result.validated), []).append(
                (result.row, applicant_record(result.validated)))
    found: dict[int, Conflict] = {}
    for key, rows in groups.items():
        first = rows[0][1]
        fields = sorted({f for _, record in rows[1:] for f in differing_fields(first, record)})
        if fields:
            conflict = Conflict(mask(key), tuple(r for r, _ in rows), tuple(fields))
            found.update((r, conflict) for r, _ in rows)
    return found
