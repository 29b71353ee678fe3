"""The provisioning journal: one transaction per workflow step, on SQLite or PostgreSQL.

Holders are keyed by their resident ID number or credit code. Each time a certificate is
made for a holder (first issue, renewal, reissue) an *enrolment* walks through the steps in
``STEPS``; its ``state`` is the last step that completed. What a step is about to do on the
token (the token label, the key's CKA_ID) is written first as an *intent*, so a process that
dies between the token call and the journal leaves something a rerun can find and reconcile.
The journal never holds a PIN.

Several processes may share one journal: a holder (and a token named with ``--token``) is
*claimed* by one of them at a time (``claim``/``hold``/``release``, see ``claims``), and every
write about a holder checks, in its own transaction, that this connection still holds the
holder's claim. A journal locked by another writer is waited for, and the wait is announced.

Where it lives is the store's business (``journal_store``): a SQLite file (WAL, synchronous
FULL) for one counter, or a PostgreSQL database shared by a hall of counters.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import JournalError
from ..safefiles import private_file, refuse_link
from .claims import Claim, ClaimHeld, ClaimLost, ClaimStore, Owner, holder_resource, lease_seconds
from .hall import counter_name
from .journal_store import CLOSED_STATES, SCHEMA_VERSION, Conflict, Store, is_database_url, open_store

__all__ = ["JOURNAL_ENV", "OPEN_STATES", "STEPS", "Enrolment", "Event", "Journal", "claim_to_dict",
           "default_state_dir", "journal_location", "journal_report", "mask"]

#: The workflow, in order; an enrolment's state is the last step completed.
STEPS = (
    "validated", "token-ready", "pin-set", "key-ready", "csr-ready", "awaiting-certificate",
    "issued", "installed", "verified", "done",
)
OPEN_STATES = tuple(s for s in STEPS if s != "done")


def _log_wait(message: str) -> None:
    logging.getLogger("sitoken.journal").warning("%s", message)


def _subject_of(resource: str) -> str | None:
    kind, _, name = resource.partition(":")
    return name if kind == "holder" else None


def _what(resource: str) -> str:
    kind, _, name = resource.partition(":")
    return f"holder {mask(name)}" if kind == "holder" else f"token {name}"


def now_text() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def claim_to_dict(claim: Claim) -> dict[str, object]:
    """A claim for listings: what it is on (an ID number masked), who holds it, until when, live or not."""
    kind, _, name = claim.resource.partition(":")
    return {"resource": f"{kind}:{mask(name) if kind == 'holder' else name}", **claim.to_dict(),
            "live": claim.live()}


def mask(subject_key: str) -> str:
    """An ID number or credit code shortened for listings: first 4 and last 4 characters."""
    return subject_key if len(subject_key) <= 8 else subject_key[:4] + "*" * (len(subject_key) - 8) + subject_key[-4:]


def default_state_dir() -> Path:
    """``$SITOKEN_STATE_DIR``, else ``$XDG_STATE_HOME/sitoken``, else ``~/.local/state/sitoken``."""
    explicit = os.environ.get("SITOKEN_STATE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state")
    return Path(base) / "sitoken"


#: Where the journal is when none is named: a path, or a postgresql:// URL for a hall.
JOURNAL_ENV = "SITOKEN_JOURNAL"


def journal_location(value: str | None = None) -> str | Path:
    """The journal named by ``value``, else ``$SITOKEN_JOURNAL``, else the state directory's file."""
    chosen = value or os.environ.get(JOURNAL_ENV)
    if chosen:
        return chosen if is_database_url(chosen) else Path(chosen)
    return default_state_dir() / "journal.sqlite"


def journal_report(location: str | Path) -> dict[str, object]:
    """What ``doctor`` says of the journal: backend, where, schema version (or why it cannot tell)."""
    backend = "postgresql" if is_database_url(location) else "sqlite"
    if isinstance(location, Path) and not location.exists():
        return {"backend": backend, "where": str(location), "exists": False, "schema": None,
                "schema_needed": SCHEMA_VERSION}
    try:
        with Journal.for_migration(location) as journal:
            return {"backend": backend, "where": str(journal.path), "exists": True,
                    "schema": journal.schema_version(), "schema_needed": SCHEMA_VERSION}
    except JournalError as exc:
        return {"backend": backend, "where": str(location), "schema_needed": SCHEMA_VERSION, "problem": str(exc)}


def owner_only_file(path: Path) -> None:
    """Create the journal 0600 if missing, tighten it if it exists; a symbolic link at its name,
    or at the names SQLite puts beside it, is refused (never written through)."""
    private_file(path, "journal")
    for suffix in ("-wal", "-shm", "-journal"):
        refuse_link(Path(str(path) + suffix), "journal")


@dataclass(frozen=True)
class Enrolment:
    """One pass of the workflow for a holder, as the journal has it."""

    id: int
    subject_key: str
    purpose: str  # issue, renew, reissue
    state: str
    replaces: int | None
    profile: str | None
    token_label: str | None
    token_serial: str | None
    key_label: str | None
    key_id: str | None
    pin_generated: int
    pin_must_change: int
    csr: bytes | None
    certificate: bytes | None
    chain: bytes | None
    cert_serial: str | None
    not_after: str | None
    handoff: str | None
    batch: str | None
    row: int | None
    last_error: str | None
    created: str
    updated: str
    counter: str | None = None  # the hall's counter whose token this is (hall.py)
    # Dual SM2 certificates: the encryption certificate a KMC issued, and where it escrowed the key.
    enc_certificate: bytes | None = None
    enc_serial: str | None = None
    enc_not_after: str | None = None
    escrow_ref: str | None = None

    @property
    def finished(self) -> bool:
        return self.state in CLOSED_STATES

    def to_dict(self, *, full_key: bool = False) -> dict[str, object]:
        return {
            "enrolment": self.id, "subject": self.subject_key if full_key else mask(self.subject_key),
            "purpose": self.purpose, "state": self.state, "replaces": self.replaces, "profile": self.profile,
            "token_label": self.token_label, "token_serial": self.token_serial,
            "key_label": self.key_label, "key_id": self.key_id,
            "pin_generated": bool(self.pin_generated), "pin_must_change": bool(self.pin_must_change),
            "certificate_serial": self.cert_serial, "not_after": self.not_after, "handoff": self.handoff,
            "batch": self.batch, "row": self.row, "last_error": self.last_error,
            "created": self.created, "updated": self.updated, "counter": self.counter,
            "encryption_certificate_serial": self.enc_serial, "encryption_not_after": self.enc_not_after,
            "escrow_ref": self.escrow_ref,
        }


@dataclass(frozen=True)
class Event:
    """One journalled step or action: what happened, how it ended, and notes (never a PIN)."""

    id: int
    enrolment: int | None
    subject_key: str | None
    step: str
    outcome: str
    detail: dict[str, object]
    operator: str
    at: str

    def to_dict(self) -> dict[str, object]:
        return {"id": self.id, "enrolment": self.enrolment,
                "subject": mask(self.subject_key) if self.subject_key else None, "step": self.step,
                "outcome": self.outcome, "detail": self.detail, "operator": self.operator, "at": self.at}


_COLUMNS = tuple(f.name for f in fields(Enrolment))
_UPDATABLE = frozenset(_COLUMNS) - {"id", "subject_key", "created"}


class Journal:
    """The journal file. Every public method that writes is one transaction, committed durably."""

    def __init__(self, location: str | os.PathLike[str], *, operator: str = "unknown",
                 lease: float | None = None, waiting: Callable[[str], None] | None = None,
                 check_schema: bool = True) -> None:
        """``location``: a SQLite file's path, or a ``postgresql://`` URL (a hall's server);
        ``lease``: seconds a claim lasts without news (default ``claims.lease_seconds()``);
        ``waiting``: told once per wait when another process keeps the journal locked."""
        self.operator = operator
        self.counter = counter_name()
        self.owner = Owner.this_process(operator)
        self.lease = lease or lease_seconds()
        self.waiting = waiting or _log_wait
        self._held: set[str] = set()
        if not is_database_url(location):
            owner_only_file(Path(location))
        self._store: Store = open_store(location, self.waiting)
        #: The file's path, or the server's URL without a password: for messages.
        self.path: Path | str = Path(location) if self._store.backend == "sqlite" else self._store.where
        try:
            if check_schema:
                self._check_schema()
        except BaseException:
            self._store.close()
            raise
        if self._store.backend == "sqlite":
            for suffix in ("-wal", "-shm"):
                side = Path(str(self.path) + suffix)
                if side.exists():
                    os.chmod(side, 0o600)

    def _check_schema(self) -> None:
        """A counter's own file is brought up to date; a shared server is migrated on purpose."""
        version = self._store.version()
        if version > SCHEMA_VERSION:
            raise JournalError(f"{self.path} was written by a newer sitoken (schema {version})")
        if version < SCHEMA_VERSION:
            if self._store.backend != "sqlite":
                raise JournalError(f"the journal {self.path} is at schema {version}, this sitoken needs "
                                   f"{SCHEMA_VERSION}: run 'sitoken journal migrate --journal URL' once")
            self._store.migrate()

    @classmethod
    def for_migration(cls, location: str | os.PathLike[str], waiting: Callable[[str], None] | None = None) -> Journal:
        """The journal opened as it is, whatever its schema version, for ``store.migrate()``."""
        return cls(location, operator="migration", waiting=waiting, check_schema=False)

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._store.backend

    def schema_version(self) -> int:
        return self._store.version()

    @property
    def store(self) -> Store:
        """The database underneath (the audit log shares it on PostgreSQL)."""
        return self._store

    def close(self) -> None:
        try:
            for resource in list(self._held):
                self.release(resource)
        except JournalError:
            pass  # a claim left behind dies with this process (or its lease runs out)
        self._store.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def transaction(self, durable: bool = True) -> Any:
        """One writing transaction (one writer at a time on either backend), committed durably.

        ``durable=False`` (a claim's lease renewal or release): committed and seen by every
        other process at once, but not synced to disk before returning. Claims matter between
        live processes only: a crash of the machine that loses such a commit has also ended the
        process that held the claim, whose claim is then taken over as the owner's is gone.
        """
        return self._store.transaction(durable)

    # -- claims ----------------------------------------------------------------------------
    # What a PostgreSQL journal implements the same way: claim, hold, release, claim_of.

    def claim(self, resource: str, what: str | None = None) -> Claim:
        """Take ``resource`` for this connection: new, already ours, or its owner dead or lease expired.

        Raises ``ClaimHeld`` (saying who holds it) when another live owner holds it.
        """
        with self.transaction() as db:
            found = self._claim_row(db, resource)
            if found is not None and found.owner.connection != self.owner.connection and found.live():
                raise ClaimHeld(what or _what(resource), found)
            if found is not None and found.owner.connection != self.owner.connection:
                reason = "lease expired" if found.expires <= time.time() else "owner process gone"
                self._event(db, None, _subject_of(resource), "claim-takeover", "ok",
                            {"from": found.to_dict(), "reason": reason})
            db.execute("DELETE FROM claims WHERE resource=?", (resource,))
            o = self.owner
            db.execute("INSERT INTO claims VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (resource, o.host, o.pid, o.started, o.connection, o.operator, now_text(),
                        time.time() + self.lease))
        self._held.add(resource)
        return Claim(resource, self.owner, time.time() + self.lease)

    def hold(self, resource: str) -> None:
        """Check that this connection still holds ``resource`` and renew its lease (``ClaimLost`` if not).

        The check and the renewal are one transaction that every other process sees at once;
        only the sync to disk is left to the next durable commit (``transaction``).
        """
        with self.transaction(durable=False) as db:
            self._renew(db, resource)

    def release(self, resource: str) -> None:
        """Give ``resource`` up (nothing happens if another process took it over meanwhile)."""
        self._held.discard(resource)
        with self.transaction(durable=False) as db:
            db.execute("DELETE FROM claims WHERE resource=? AND connection=?", (resource, self.owner.connection))

    def claim_of(self, resource: str) -> Claim | None:
        """Who holds ``resource`` now, if a live owner does."""
        found = self._claim_row(self._store, resource)
        return found if found is not None and found.live() else None

    @contextmanager
    def claimed(self, resource: str, what: str | None = None) -> Iterator[None]:
        """Hold ``resource`` for the block (re-entrant: an inner block leaves it to the outer one)."""
        if resource in self._held:
            yield
            return
        self.claim(resource, what)
        try:
            yield
        finally:
            if resource in self._held:
                self.release(resource)

    def claims(self, subject_key: str | None = None) -> list[Claim]:
        """The claims the journal holds now, live or not (``Claim.live``), in resource order;
        with ``subject_key``, that holder's only. For ``journal show``: who works on what."""
        where, args = ("WHERE resource=?", (holder_resource(subject_key),)) if subject_key else ("", ())
        rows = self._store.execute("SELECT resource, host, pid, started, connection, operator, expires "
                                   f"FROM claims {where} ORDER BY resource", args)
        return [Claim(r[0], Owner(r[1], r[2], r[3], r[4], r[5]), r[6]) for r in rows]

    def _claim_row(self, db: Any, resource: str) -> Claim | None:
        row = db.execute("SELECT host, pid, started, connection, operator, expires FROM claims WHERE resource=?",
                         (resource,)).fetchone()
        if row is None:
            return None
        return Claim(resource, Owner(row[0], row[1], row[2], row[3], row[4]), row[5])

    def _renew(self, db: Any, resource: str) -> None:
        renewed = db.execute("UPDATE claims SET expires=? WHERE resource=? AND connection=?",
                             (time.time() + self.lease, resource, self.owner.connection)).rowcount
        if not renewed:
            self._held.discard(resource)
            raise ClaimLost(f"this process no longer holds {_what(resource)}: another process took it over "
                            "after the lease expired; stopping without touching anything more")

    def _require(self, db: Any, subject_key: str | None) -> None:
        """Writes about a holder happen only while this connection holds the holder's claim."""
        if subject_key is None:
            return
        resource = holder_resource(subject_key)
        if resource not in self._held:
            raise JournalError(f"internal: journal write for {mask(subject_key)} without its claim")
        self._renew(db, resource)

    # -- reading -------------------------------------------------------------------------

    def enrolment(self, enrolment_id: int) -> Enrolment:
        row = self._store.execute(f"SELECT {', '.join(_COLUMNS)} FROM enrolments WHERE id=?",
                                  (enrolment_id,)).fetchone()
        if row is None:
            raise JournalError(f"no enrolment {enrolment_id} in {self.path}")
        return Enrolment(*row)

    def enrolments(self, subject_key: str | None = None) -> list[Enrolment]:
        where, args = ("WHERE subject_key=?", (subject_key,)) if subject_key else ("", ())
        rows = self._store.execute(f"SELECT {', '.join(_COLUMNS)} FROM enrolments {where} ORDER BY id", args)
        return [Enrolment(*r) for r in rows]

    def open_enrolment(self, subject_key: str) -> Enrolment | None:
        """The holder's unfinished enrolment, if any (there is at most one)."""
        return next((e for e in self.enrolments(subject_key) if not e.finished), None)

    def current(self, subject_key: str) -> Enrolment | None:
        """The holder's live certificate: the newest enrolment that is done (or lost)."""
        closed = [e for e in self.enrolments(subject_key) if e.state in ("done", "lost")]
        return closed[-1] if closed else None

    def holder(self, subject_key: str) -> dict[str, object] | None:
        row = self._store.execute("SELECT kind, applicant FROM holders WHERE subject_key=?", (subject_key,)).fetchone()
        if row is None:
            return None
        data: dict[str, object] = json.loads(row[1])
        return data

    def events(self, enrolment_id: int | None = None, limit: int | None = None) -> list[Event]:
        where, args = ("WHERE enrolment=?", (enrolment_id,)) if enrolment_id is not None else ("", ())
        tail = f" LIMIT {int(limit)}" if limit else ""
        rows = self._store.execute(
            f"SELECT id, enrolment, subject_key, step, outcome, detail, operator, at FROM events {where} "
            f"ORDER BY id DESC{tail}", args)
        return [Event(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], r[7]) for r in reversed(list(rows))]

    # -- writing -------------------------------------------------------------------------

    def start(self, subject_key: str, kind: str, applicant: Mapping[str, object], *, purpose: str = "issue",
              replaces: int | None = None, state: str = "validated", copy: Mapping[str, object] | None = None,
              **columns: object) -> Enrolment:
        """Record the holder (first time) and a new enrolment at ``state``; refuses a second open one."""
        stamp = now_text()
        values = {**(copy or {}), **columns}
        try:
            with self.transaction() as db:
                self._require(db, subject_key)
                db.execute("INSERT INTO holders VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                           (subject_key, kind, json.dumps(applicant, ensure_ascii=False, sort_keys=True), stamp))
                db.execute("UPDATE holders SET applicant=? WHERE subject_key=?",
                           (json.dumps(applicant, ensure_ascii=False, sort_keys=True), subject_key))
                enrolment_id = int(db.execute(
                    "INSERT INTO enrolments (subject_key, purpose, state, replaces, created, updated, counter) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    (subject_key, purpose, state, replaces, stamp, stamp, self.counter)).fetchone()[0])
                self._update(db, enrolment_id, values)
                self._event(db, enrolment_id, subject_key, state, "ok", {"purpose": purpose, "replaces": replaces})
        except Conflict:
            raise JournalError("this holder already has an unfinished enrolment; resume it instead") from None
        return self.enrolment(enrolment_id)

    def advance(self, enrolment: Enrolment, state: str, detail: Mapping[str, object] | None = None,
                **columns: object) -> Enrolment:
        """One step done: the new state, its results and an event, in one transaction."""
        if state not in STEPS and state not in CLOSED_STATES:
            raise JournalError(f"unknown step {state!r}")
        with self.transaction() as db:
            self._require(db, enrolment.subject_key)
            self._expect_state(db, enrolment)
            self._update(db, enrolment.id, {**columns, "state": state, "last_error": None})
            self._event(db, enrolment.id, enrolment.subject_key, state, "ok", detail or {})
        return self.enrolment(enrolment.id)

    def intent(self, enrolment: Enrolment, step: str, detail: Mapping[str, object] | None = None,
               **columns: object) -> Enrolment:
        """What the next token call will create, written before the call is made (``detail``: more context)."""
        with self.transaction() as db:
            self._require(db, enrolment.subject_key)
            self._expect_state(db, enrolment)
            self._update(db, enrolment.id, columns)
            shown = {k: v for k, v in columns.items() if isinstance(v, (str, int)) or v is None}
            self._event(db, enrolment.id, enrolment.subject_key, f"{step}-intent", "ok", {**shown, **(detail or {})})
        return self.enrolment(enrolment.id)

    def last_intent(self, enrolment: Enrolment, step: str) -> dict[str, object]:
        """The detail of the enrolment's newest ``step`` intent ({} when there is none)."""
        row = self._store.execute("SELECT detail FROM events WHERE enrolment=? AND step=? ORDER BY id DESC LIMIT 1",
                               (enrolment.id, f"{step}-intent")).fetchone()
        data: dict[str, object] = json.loads(row[0]) if row else {}
        return data

    def note(self, enrolment: Enrolment | None, step: str, outcome: str, detail: Mapping[str, object],
             subject_key: str | None = None, **columns: object) -> None:
        """An event without a state change (a failure, a reconciliation, a PIN reset...)."""
        with self.transaction() as db:
            self._require(db, enrolment.subject_key if enrolment is not None else subject_key)
            if enrolment is not None and columns:
                self._update(db, enrolment.id, columns)
            key = enrolment.subject_key if enrolment is not None else subject_key
            self._event(db, enrolment.id if enrolment else None, key, step, outcome, detail)

    def close_pair(self, new: Enrolment, old: Enrolment, old_state: str, detail: Mapping[str, object]) -> Enrolment:
        """Finish ``new`` and close ``old`` (superseded by a renewal) together."""
        with self.transaction() as db:
            self._require(db, new.subject_key)
            self._expect_state(db, new)
            self._update(db, old.id, {"state": old_state})
            self._event(db, old.id, old.subject_key, old_state, "ok", {"by": new.id})
            self._update(db, new.id, {"state": "done", "last_error": None})
            self._event(db, new.id, new.subject_key, "done", "ok", detail)
        return self.enrolment(new.id)

    def _expect_state(self, db: Any, enrolment: Enrolment) -> None:
        """A step moves on from the state it started from; anything else means two writers."""
        row = db.execute("SELECT state FROM enrolments WHERE id=?", (enrolment.id,)).fetchone()
        if row is None or row[0] != enrolment.state:
            raise JournalError(f"enrolment {enrolment.id} is at {row[0] if row else 'nothing'}, not "
                               f"{enrolment.state}: changed by another writer; stopping")

    def _update(self, db: Any, enrolment_id: int, columns: Mapping[str, object]) -> None:
        unknown = set(columns) - _UPDATABLE
        if unknown:
            raise JournalError(f"not journal columns: {', '.join(sorted(unknown))}")
        if not columns:
            return
        names = list(columns)
        db.execute(f"UPDATE enrolments SET {', '.join(f'{n}=?' for n in names)}, updated=? WHERE id=?",
                   (*(columns[n] for n in names), now_text(), enrolment_id))

    def _event(self, db: Any, enrolment_id: int | None, subject_key: str | None, step: str,
               outcome: str, detail: Mapping[str, object]) -> None:
        db.execute("INSERT INTO events (enrolment, subject_key, step, outcome, detail, operator, at) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (enrolment_id, subject_key, step, outcome, json.dumps(dict(detail), ensure_ascii=False, default=str),
                    self.operator, now_text()))


def as_claim_store(journal: Journal) -> ClaimStore:
    """The journal as the backend-neutral claim interface (mypy checks that it is one)."""
    return journal
