"""Batch provisioning: every row of a CSV/JSON file through the counter workflow; bad rows are skipped.

Several batches may run at once on one journal (two clerks, a retry started too early):
each holder is claimed by one process, and a row whose holder another live process holds
is reported ``held`` and tried once more at the end of the run.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from ..errors import InvalidInput, JournalError, JournalUnreachable, SitokenError
from .applicant import Applicant, RowResult, validate_all
from .claims import ClaimHeld, holder_resource
from .conflicts import ApplicantConflict, Conflict, file_conflicts, journal_conflict, subject_key
from .hall import HeldElsewhere
from .journal import Journal, mask
from .workflow import Counter

__all__ = ["BatchSummary", "RowOutcome", "batch_id_for", "check_batch", "load_batch", "run_batch",
           "unfinished_rows"]

#: Row outcomes, in the order a summary counts them. ``held``: another live process works on
#: this holder now (not a failure: that process finishes it). ``conflict``: the row gives a
#: holder other data than another row or the journal. ``ready``, ``unfinished``: ``--check`` only.
OUTCOMES = ("done", "already-done", "awaiting-certificate", "held", "ready", "unfinished", "invalid", "conflict",
            "failed")
#: Seconds a batch waits, at its end, for other processes to finish the holders they held.
HELD_PATIENCE = 30.0
#: Outcomes that make a batch (or a check) incomplete: exit 15.
PROBLEMS = ("invalid", "conflict", "failed", "held")


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
    held_by: dict[str, object] | None = None  # who holds the holder, when ``held``

    def to_dict(self) -> dict[str, object]:
        return {
            "row": self.row, "kind": self.kind, "subject": self.subject, "outcome": self.outcome,
            "enrolment": self.enrolment, "token_label": self.token_label, "token_serial": self.token_serial,
            "certificate_serial": self.certificate_serial, "pin_generated": self.pin_generated,
            "errors": list(self.errors), "notes": list(self.notes), "held_by": self.held_by,
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
        """No row invalid, conflicting, failed or held elsewhere (rows handed off to a CA count as complete)."""
        return not any(r.outcome in PROBLEMS for r in self.rows)

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
    """Rows whose holder has an enrolment left unfinished by an earlier run (not one running now)."""
    rows = []
    for result in results:
        if result.validated is None:
            continue
        key = subject_key(result.validated)
        if counter.journal.open_enrolment(key) and counter.journal.claim_of(holder_resource(key)) is None:
            rows.append(result.row)
    return rows


def _conflict_outcome(result: RowResult, conflict: Conflict) -> RowOutcome:
    kind = result.validated.applicant.kind if result.validated else None
    return RowOutcome(result.row, kind, conflict.subject, "conflict", errors=(conflict.to_dict(),))


def check_batch(journal: Journal | None, source: Source, on: date) -> BatchSummary:
    """Every row checked, and checked against the journal, without touching a token or writing anything.

    ``ready``: would be provisioned; ``already-done``; ``unfinished`` (a resume carries it
    on); ``held`` by a live process now; ``invalid``; ``conflict``.
    """
    batch, results = load_batch(source, on)
    conflicts = file_conflicts(results)
    return BatchSummary(batch, tuple(_check_row(journal, r, conflicts.get(r.row)) for r in results))


def _check_row(journal: Journal | None, result: RowResult, conflict: Conflict | None) -> RowOutcome:
    if result.validated is None:
        return _invalid(result)
    key = subject_key(result.validated)
    if journal is not None and conflict is None:
        conflict = journal_conflict(journal.holder(key), result.validated, (result.row,))
    if conflict is not None:
        return _conflict_outcome(result, conflict)
    kind, outcome, held = result.validated.applicant.kind, "ready", None
    if journal is not None:
        claim = journal.claim_of(holder_resource(key))
        if claim is not None:
            outcome, held = "held", claim.to_dict()
        elif journal.open_enrolment(key) is not None:
            outcome = "unfinished"
        elif journal.current(key) is not None:
            outcome = "already-done"
    return RowOutcome(result.row, kind, mask(key), outcome, held_by=held)


Source = str | os.PathLike[str] | bytes | Iterable[Applicant | Mapping[str, object]]


def load_batch(source: Source, on: date) -> tuple[str, list[RowResult]]:
    """The batch's name and every row checked (``BatchInvalid`` if the file cannot be read at all)."""
    return batch_id_for(source), validate_all(source, on=on)


def run_batch(
    counter: Counter, source: Source | list[RowResult], *, resume: bool = False, batch: str | None = None,
    progress: Callable[[RowOutcome], None] | None = None, held_patience: float = HELD_PATIENCE,
) -> BatchSummary:
    """Provision every valid row; invalid rows are reported (row, field, rule) and skipped.

    ``source`` is a file, its content or records, or rows already checked by ``load_batch``.
    Holders already done are reported as ``already-done`` and never provisioned again. Without
    ``resume``, a batch whose holders have unfinished enrolments stops before touching anything.
    Rows another live process holds are tried again at the end, after waiting up to
    ``held_patience`` seconds for that process to let them go; else they stay ``held``.
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
    conflicts = file_conflicts(results)
    tell = progress or (lambda _outcome: None)
    outcomes: dict[int, RowOutcome] = {}
    for result in results:
        outcomes[result.row] = _run_row(counter, result, batch, conflicts.get(result.row))
        if outcomes[result.row].outcome != "held":
            tell(outcomes[result.row])
    # Holders another process held may be finished by now (already-done) or left by a dead one.
    deadline = time.monotonic() + held_patience
    for result in results:
        if outcomes[result.row].outcome != "held":
            continue
        while True:  # a row let go may be taken by a third process first: wait for that one too
            _await_release(counter.journal, result, deadline)
            outcomes[result.row] = _run_row(counter, result, batch, None)
            if outcomes[result.row].outcome != "held" or time.monotonic() >= deadline:
                break
        tell(outcomes[result.row])
    return BatchSummary(batch, tuple(outcomes[r.row] for r in results))


def _await_release(journal: Journal, result: RowResult, deadline: float) -> None:
    """Wait (until ``deadline``) for the process that holds this row's holder to let go."""
    resource = holder_resource(subject_key(result.validated)) if result.validated else ""
    while time.monotonic() < deadline and journal.claim_of(resource) is not None:
        time.sleep(0.25)


def _run_row(counter: Counter, result: RowResult, batch: str, conflict: Conflict | None) -> RowOutcome:
    if result.validated is None:
        counter.audit.record("validate", "rejected", batch=batch, row=result.row,
                             fields=[e.field for e in result.errors])
        return _invalid(result)
    if conflict is not None:
        counter.audit.record("validate", "conflict", subject=subject_key(result.validated), batch=batch,
                             row=result.row, rows=list(conflict.rows),
                             fields=list(conflict.fields))
        return _conflict_outcome(result, conflict)
    key = subject_key(result.validated)
    kind = result.validated.applicant.kind
    try:
        done = counter.provision(result.validated, batch=batch, row=result.row, resume=True)
    except ClaimHeld as exc:
        return RowOutcome(result.row, kind, mask(key), "held", errors=(exc.to_dict(),), held_by=exc.claim.to_dict())
    except HeldElsewhere as exc:
        return RowOutcome(result.row, kind, mask(key), "held", errors=(exc.to_dict(),), held_by=exc.held_by())
    except ApplicantConflict as exc:
        return _conflict_outcome(result, exc.conflict)
    except JournalUnreachable:
        raise  # every row after it would fail the same way: the batch stops, to be resumed
    except SitokenError as exc:
        error = {"error": exc.code, "message": str(exc), "row": result.row}
        return RowOutcome(result.row, kind, mask(key), "failed", errors=(error,))
    if done.already_done:
        state = "already-done"
    else:
        state = "awaiting-certificate" if done.state == "awaiting-certificate" else "done"
    return RowOutcome(result.row, kind, done.subject, state, done.enrolment, done.token_label, done.token_serial,
                      done.certificate_serial, done.pin_generated, notes=done.notes)
