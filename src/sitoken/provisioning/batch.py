"""Batch provisioning: every row of a CSV/JSON file through the counter workflow; bad rows are skipped."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from ..errors import InvalidInput, JournalError, SitokenError
from .applicant import Applicant, RowResult, validate_all
from .journal import mask
from .workflow import Counter, subject_key

__all__ = ["BatchSummary", "RowOutcome", "batch_id_for", "load_batch", "run_batch", "unfinished_rows"]

#: Row outcomes, in the order a summary counts them.
OUTCOMES = ("done", "already-done", "awaiting-certificate", "invalid", "failed")


@dataclass(frozen=True)
class RowOutcome:
    """One row of a batch: what became of it. Field names are stable (``--json``)."""

    row: int
    kind: str | None
    subject: str | None  # masked
    outcome: str  # one of OUTCOMES
    enrolment: int | None = None
    token_label: str | None = None
    token_serial: str | None = None
    certificate_serial: str | None = None
    pin_generated: bool = False
    errors: tuple[dict[str, object], ...] = ()
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "row": self.row, "kind": self.kind, "subject": self.subject, "outcome": self.outcome,
            "enrolment": self.enrolment, "token_label": self.token_label, "token_serial": self.token_serial,
            "certificate_serial": self.certificate_serial, "pin_generated": self.pin_generated,
            "errors": list(self.errors), "notes": list(self.notes),
        }


@dataclass(frozen=True)
class BatchSummary:
    """Counts and per-row outcomes of one batch run."""

    batch: str
    rows: tuple[RowOutcome, ...] = field(default_factory=tuple)

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.rows if r.outcome == outcome)

    @property
    def complete(self) -> bool:
        """No row invalid or failed (rows handed off to a CA count as complete for this run)."""
        return not any(r.outcome in ("invalid", "failed") for r in self.rows)

    def to_dict(self) -> dict[str, object]:
        return {
            "batch": self.batch, "total": len(self.rows), "complete": self.complete,
            "counts": {o: self.count(o) for o in OUTCOMES},
            "rows": [r.to_dict() for r in self.rows],
        }


def batch_id_for(source: object) -> str:
    """A stable name for a batch file: its name and a hash of its content."""
    if isinstance(source, (str, os.PathLike)) and Path(source).is_file():
        data = Path(source).read_bytes()
        return f"{Path(source).name}:{hashlib.sha256(data).hexdigest()[:12]}"
    return "inline"


def _invalid(result: RowResult) -> RowOutcome:
    kind = result.applicant.kind if result.applicant else None
    errors = tuple({k: v for k, v in e.to_dict().items() if k in ("field", "rule", "reason", "row")}
                   for e in result.errors)
    return RowOutcome(result.row, kind, None, "invalid", errors=errors)


def unfinished_rows(counter: Counter, results: Iterable[RowResult]) -> list[int]:
    """Rows whose holder has an enrolment left unfinished by an earlier run."""
    rows = []
    for result in results:
        if result.validated is not None and counter.journal.open_enrolment(subject_key(result.validated)):
            rows.append(result.row)
    return rows


Source = str | os.PathLike[str] | bytes | Iterable[Applicant | Mapping[str, object]]


def load_batch(source: Source, on: date) -> tuple[str, list[RowResult]]:
    """The batch's name and every row checked (``BatchInvalid`` if the file cannot be read at all)."""
    return batch_id_for(source), validate_all(source, on=on)


def run_batch(
    counter: Counter, source: Source | list[RowResult], *, resume: bool = False, batch: str | None = None,
    progress: Callable[[RowOutcome], None] | None = None,
) -> BatchSummary:
    """Provision every valid row; invalid rows are reported (row, field, rule) and skipped.

    ``source`` is a file, its content or records, or rows already checked by ``load_batch``.
    Holders already done are reported as ``already-done`` and never provisioned again. Without
    ``resume``, a batch whose holders have unfinished enrolments stops before touching anything.
    """
    if isinstance(source, list) and all(isinstance(r, RowResult) for r in source):
        results: list[RowResult] = list(source)
        batch = batch or "inline"
    else:
        batch, results = load_batch(source, counter.on)  # type: ignore[arg-type]
    if counter.token_selector and sum(r.validated is not None for r in results) > 1:
        # Each holder's certificate lives on the holder's own token: provisioning a second
        # holder onto the named token would erase the first one's key.
        raise InvalidInput("--token names one token, but a batch gives each holder a token of its own: "
                           "provision one applicant at a time with 'sitoken provision --token', or leave "
                           "--token out so each holder gets the module's next uninitialised token")
    pending = unfinished_rows(counter, results)
    if pending and not resume:
        raise JournalError(f"{len(pending)} row(s) have unfinished enrolments from an earlier run "
                           f"(rows {', '.join(map(str, pending[:10]))}); rerun with --resume")
    outcomes = []
    for result in results:
        outcome = _run_row(counter, result, batch)
        outcomes.append(outcome)
        if progress is not None:
            progress(outcome)
    return BatchSummary(batch, tuple(outcomes))


def _run_row(counter: Counter, result: RowResult, batch: str) -> RowOutcome:
    if result.validated is None:
        counter.audit.record("validate", "rejected", batch=batch, row=result.row,
                             fields=[e.field for e in result.errors])
        return _invalid(result)
    key = subject_key(result.validated)
    kind = result.validated.applicant.kind
    try:
        done = counter.provision(result.validated, batch=batch, row=result.row, resume=True)
    except SitokenError as exc:
        error = {"error": exc.code, "message": str(exc), "row": result.row}
        return RowOutcome(result.row, kind, mask(key), "failed", errors=(error,))
    if done.already_done:
        state = "already-done"
    else:
        state = "awaiting-certificate" if done.state == "awaiting-certificate" else "done"
    return RowOutcome(result.row, kind, done.subject, state, done.enrolment, done.token_label, done.token_serial,
                      done.certificate_serial, done.pin_generated, notes=done.notes)
