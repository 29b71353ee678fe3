"""The journal and audit log: reconciling half-done steps, owner-only files, and never a PIN.

The journal's tests run on both backends (``journal_at``): a counter's SQLite file and a hall's
PostgreSQL database on the suite's shared server; what only a file has (WAL, file modes) on SQLite.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path
from typing import Any

import pytest
from prov_support import HOLDER_PIN, ORG, PERSON, SO_PIN, Bed, open_by_label, validated

from pg_support import journal_on
from sitoken.certs import to_pem
from sitoken.certs.ontoken import install_certificates, token_certificates
from sitoken.errors import JournalError
from sitoken.pin import Pin
from sitoken.provisioning.audit import AuditLog
from sitoken.provisioning.claims import holder_resource
from sitoken.provisioning.holder_pins import GeneratedPins
from sitoken.provisioning.journal import Journal

KEY = PERSON["id_number"]


@pytest.fixture(params=["sqlite", "postgresql"])
def journal_at(request: pytest.FixtureRequest, bed: Bed) -> str | Path:
    """Every journal test that takes the journal's location runs on SQLite and on PostgreSQL."""
    return journal_on(request, bed.journal)


class Stop(Exception):
    """Raised from the progress callback: the process 'dies' before the named step."""


def stop_before(counter: Any, words: str) -> None:
    def progress(message: str) -> None:
        if words in message:
            raise Stop(message)

    counter.progress = progress


def stopped_before_keygen(make_counter: Any) -> tuple[Any, Any]:
    """A run stopped just before key generation: the journal and its open enrolment."""
    counter = make_counter()
    stop_before(counter, "generating the key pair")
    with pytest.raises(Stop):
        counter.provision(validated(PERSON))
    journal = make_counter().journal
    return journal, journal.open_enrolment(KEY)


def test_key_generated_but_not_journalled_is_adopted(make_counter: Any) -> None:
    journal, enrolment = stopped_before_keygen(make_counter)
    assert enrolment is not None and enrolment.state == "pin-set"
    # What a killed process leaves: the intent journalled, the key on the token, no "key-ready".
    with journal.claimed(holder_resource(KEY)):  # as the killed process held it
        enrolment = journal.intent(enrolment, "key", key_label=f"sign-{enrolment.id}", key_id="00aa11bb22cc33dd")
    token = open_by_label(enrolment.token_label or "")
    from sitoken.token import KeyType

    token.generate_key(KeyType.EC_P256, enrolment.key_label or "", bytes.fromhex("00aa11bb22cc33dd"))
    token.close()
    done = make_counter().provision(validated(PERSON))
    assert done.state == "done" and done.key_id == "00aa11bb22cc33dd"
    assert any("adopted" in note for note in done.notes)
    token = open_by_label(done.token_label or "")
    assert [k.id for k in token.keys()] == ["00aa11bb22cc33dd"]
    token.close()
    outcomes = [(e.step, e.outcome) for e in journal.events(done.enrolment)]
    assert ("key-reconcile", "adopted") in outcomes


def test_stray_key_under_the_intended_label_is_deleted_and_recorded(make_counter: Any) -> None:
    journal, enrolment = stopped_before_keygen(make_counter)
    assert enrolment is not None
    with journal.claimed(holder_resource(KEY)):  # as the killed process held it
        enrolment = journal.intent(enrolment, "key", key_label=f"sign-{enrolment.id}", key_id="1111111111111111")
    token = open_by_label(enrolment.token_label or "")
    from sitoken.token import KeyType

    token.generate_key(KeyType.RSA2048, enrolment.key_label or "", bytes.fromhex("2222222222222222"))
    token.close()
    done = make_counter().provision(validated(PERSON))
    token = open_by_label(done.token_label or "")
    assert [k.id for k in token.keys()] == ["1111111111111111"]
    token.close()
    assert ("key-reconcile", "deleted") in [(e.step, e.outcome) for e in journal.events(done.enrolment)]


def test_certificate_installed_but_not_journalled_is_adopted(make_counter: Any) -> None:
    counter = make_counter()
    stop_before(counter, "installing the certificate")
    with pytest.raises(Stop):
        counter.provision(validated(ORG))
    enrolment = make_counter().journal.open_enrolment(ORG["credit_code"])
    assert enrolment is not None and enrolment.state == "issued" and enrolment.certificate
    token = open_by_label(enrolment.token_label or "")
    chain = [enrolment.chain] if enrolment.chain else []
    install_certificates(token, to_pem([enrolment.certificate]) + b"".join(chain), key=f"id:{enrolment.key_id}")
    token.close()
    done = make_counter().provision(validated(ORG))
    assert done.state == "done" and any("installed before" in n for n in done.notes)
    token = open_by_label(done.token_label or "")
    assert len([c for c in token_certificates(token) if not c.authority]) == 1
    token.close()


def test_certificate_issued_but_not_journalled_is_found_at_the_ca(make_counter: Any) -> None:
    counter = make_counter()
    stop_before(counter, "asking the issuer")
    with pytest.raises(Stop):
        counter.provision(validated(PERSON))
    enrolment = make_counter().journal.open_enrolment(KEY)
    assert enrolment is not None and enrolment.csr
    fresh = make_counter()
    earlier = fresh.issuer.issue(enrolment.csr, fresh.profiles.for_kind("personal"), "x").certificate
    done = fresh.provision(validated(PERSON))
    token = open_by_label(done.token_label or "")
    leaves = [c.der for c in token_certificates(token) if not c.authority]
    token.close()
    assert leaves == [earlier]  # the CA's first certificate, not a second one


def test_unfinished_enrolment_needs_resume(make_counter: Any) -> None:
    counter = make_counter()
    stop_before(counter, "making the certificate request")
    with pytest.raises(Stop):
        counter.provision(validated(PERSON))
    with pytest.raises(JournalError, match="--resume"):
        make_counter().provision(validated(PERSON), resume=False)
    assert make_counter().provision(validated(PERSON), resume=True).state == "done"


def test_a_second_open_enrolment_for_one_holder_is_refused_by_the_database(journal_at: str | Path) -> None:
    journal = Journal(journal_at)
    journal.claim(holder_resource(KEY))
    journal.start(KEY, "personal", PERSON)
    with pytest.raises(JournalError):
        journal.start(KEY, "personal", PERSON)
    journal.close()


def test_journal_is_wal_with_full_sync(bed: Bed) -> None:
    Journal(bed.journal).close()
    db = sqlite3.connect(bed.journal)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _database_text(location: str | Path) -> bytes:
    """Every row of every journal table, read through the store: what a database holds."""
    with Journal(location) as journal:
        tables = ("holders", "enrolments", "events", "claims") + (("audit",) if journal.backend == "postgresql" else ())
        rows = [journal.store.execute(f"SELECT * FROM {table}").fetchall() for table in tables]
    return repr(rows).encode()


def test_records_are_owner_only_and_hold_no_pin(make_counter: Any, bed: Bed, journal_at: str | Path) -> None:
    old_umask = os.umask(0o022)
    try:
        pins = GeneratedPins(bed.root / "pins")
        counter = make_counter(holder_pins=pins)
        counter.provision(validated(PERSON))
        counter.provision(validated(ORG))
        sqlite_files = [bed.journal, *[p for p in (bed.journal.with_name("journal.sqlite-wal"),
                                                   bed.journal.with_name("journal.sqlite-shm")) if p.exists()]]
        files = [bed.audit, *(sqlite_files if journal_at == bed.journal else [])]
        assert all(_mode(f) == 0o600 for f in files), {str(f): oct(_mode(f)) for f in files}
        pin_files = sorted((bed.root / "pins").glob("*.pin"))
        assert [p.stem for p in pin_files] == sorted([KEY, ORG["credit_code"]])
        assert all(_mode(p) == 0o600 for p in pin_files)
        secrets = [SO_PIN, HOLDER_PIN, *(p.read_text().strip() for p in pin_files)]
        blob = b"".join(f.read_bytes() for f in files) + _database_text(journal_at)
        for secret in secrets:
            assert secret.encode() not in blob
    finally:
        os.umask(old_umask)


def test_existing_audit_file_is_tightened_and_pins_are_refused(bed: Bed) -> None:
    bed.audit.parent.mkdir(parents=True)
    bed.audit.write_text("")
    os.chmod(bed.audit, 0o644)
    audit = AuditLog(bed.audit, "clerk-7")
    assert _mode(bed.audit) == 0o600
    with pytest.raises(TypeError):
        audit.record("pin-set", "ok", pin=Pin("abc12345x"))  # type: ignore[arg-type]
    assert audit.entries() == []


def test_generated_pins_meet_the_policy_and_survive_a_rerun(bed: Bed) -> None:
    from sitoken.pin import PinPolicy

    pins = GeneratedPins(bed.root / "pins")
    first, generated = pins.pin_for(KEY)
    assert generated and PinPolicy().violations(first, avoid=[KEY]) == []
    again, _ = GeneratedPins(bed.root / "pins").pin_for(KEY, new=False)
    assert again == first
    with pytest.raises(Exception, match="no generated PIN"):
        pins.pin_for("91350100M000100Y43", new=False)
