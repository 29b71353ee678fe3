"""One journal interface, two backends: claims, steps, schema, audit and copy agree on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from testbed.pg_bed import PgBed

from pg_support import psql
from sitoken.errors import JournalError
from sitoken.provisioning.audit import AuditLog, DatabaseAuditLog
from sitoken.provisioning.claims import ClaimHeld, holder_resource, token_resource
from sitoken.provisioning.journal import Journal, journal_report
from sitoken.provisioning.journal_store import SCHEMA_VERSION

KEY = "110105199003071239"
APPLICANT = {"name": "张三", "id_number": KEY}


def started(journal: Journal, key: str = KEY) -> int:
    with journal.claimed(holder_resource(key)):
        return journal.start(key, "personal", APPLICANT).id


def test_a_live_claim_keeps_every_other_process_out(journal_at: str | Path) -> None:
    with Journal(journal_at, operator="a") as first, Journal(journal_at, operator="b") as second:
        first.claim(holder_resource(KEY))
        with pytest.raises(ClaimHeld) as held:
            second.claim(holder_resource(KEY))
        assert "pid" in str(held.value) and KEY not in str(held.value)
        first.release(holder_resource(KEY))
        second.claim(holder_resource(KEY))


def test_an_expired_lease_is_taken_over_and_the_takeover_journalled(journal_at: str | Path) -> None:
    with Journal(journal_at, operator="a", lease=0.2) as first, Journal(journal_at, operator="b") as second:
        first.claim(holder_resource(KEY))
        time.sleep(0.3)
        second.claim(holder_resource(KEY))
        assert any(e.step == "claim-takeover" for e in second.events())


def test_one_open_enrolment_per_holder_and_steps_from_the_state_they_started(journal_at: str | Path) -> None:
    with Journal(journal_at) as journal:
        first = started(journal)
        with journal.claimed(holder_resource(KEY)):
            with pytest.raises(JournalError, match="unfinished enrolment"):
                journal.start(KEY, "personal", APPLICANT)
            enrolment = journal.enrolment(first)
            moved = journal.advance(enrolment, "token-ready", token_label="SI-000001-ab12", csr=b"\x00\x01DER")
            with pytest.raises(JournalError, match="changed by another writer"):
                journal.advance(enrolment, "token-ready")  # from the state it no longer has
        assert moved.state == "token-ready" and moved.csr == b"\x00\x01DER" and moved.counter
        assert [e.state for e in journal.enrolments(KEY)] == ["token-ready"]
        assert journal.schema_version() == SCHEMA_VERSION


def test_a_hall_journal_is_migrated_on_purpose_not_by_a_counter(fresh_database: str) -> None:
    with pytest.raises(JournalError, match="sitoken journal migrate"):
        Journal(fresh_database)
    report = journal_report(fresh_database)
    assert report["backend"] == "postgresql" and report["schema"] == 0
    migrate = [sys.executable, "-m", "sitoken", "journal", "migrate", "--journal", fresh_database, "--json"]
    first = json.loads(subprocess.run(migrate, capture_output=True, text=True, check=True).stdout)
    again = json.loads(subprocess.run(migrate, capture_output=True, text=True, check=True).stdout)
    assert first["applied"] == list(range(1, SCHEMA_VERSION + 1)) and again["applied"] == []
    assert journal_report(fresh_database)["schema"] == SCHEMA_VERSION


def test_the_hall_audit_log_is_append_only_and_keeps_no_full_id(hall_url: str, pg_bed: PgBed) -> None:
    with Journal(hall_url) as journal:
        audit = DatabaseAuditLog(journal.store, "clerk", counter="counter-7")
        audit.record("provision", "ok", subject=KEY, enrolment=1)
        (entry,) = audit.entries()
    assert entry["counter"] == "counter-7" and entry["operator"] == "clerk"
    assert KEY not in json.dumps(entry) and entry["subject"] == "1101**********1239"
    database = hall_url.split("?")[0].rsplit("/", 1)[1]
    for statement in ("UPDATE audit SET outcome='forged'", "DELETE FROM audit", "TRUNCATE audit"):
        with pytest.raises(JournalError, match="append-only"):
            _as_subprocess_error(pg_bed, database, statement)
    assert psql(pg_bed, database, "SELECT outcome FROM audit") == "ok"


def _as_subprocess_error(bed: PgBed, database: str, statement: str) -> None:
    from testbed.pg_bed import PgBedError

    try:
        psql(bed, database, statement)
    except PgBedError as exc:
        raise JournalError(str(exc)) from None


def test_a_counter_journal_copies_into_the_hall_with_its_ids(tmp_path: Path, hall_url: str) -> None:
    local = tmp_path / "journal.sqlite"
    with Journal(local) as journal:
        ids = [started(journal, key) for key in (KEY, "440305200002292462")]
    audit_file = tmp_path / "audit.jsonl"
    AuditLog(audit_file, "clerk").record("provision", "ok", subject=KEY)
    copy = [sys.executable, "-m", "sitoken", "journal", "copy", "--from", str(local), "--to", hall_url,
            "--audit", str(audit_file), "--json"]
    done = subprocess.run(copy, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["copied"] == {"holders": 2, "enrolments": 2, "events": 2, "audit": 1}
    with Journal(hall_url) as hall:
        assert [e.id for e in hall.enrolments()] == ids
        assert started(hall, "320102198511200012") == max(ids) + 1  # numbering goes on after the copy
        assert [e["action"] for e in DatabaseAuditLog(hall.store).entries()] == ["provision"]
    again = subprocess.run(copy, capture_output=True, text=True, check=False)
    assert again.returncode == 13 and "empty" in json.loads(again.stdout)["message"]


def test_a_server_that_is_down_is_said_plainly_with_exit_13(hall_url: str, pg_bed: PgBed) -> None:
    pg_bed.stop("fast")
    try:
        with pytest.raises(JournalError, match=r"cannot be reached.*nothing was written"):
            Journal(hall_url)
        show = subprocess.run([sys.executable, "-m", "sitoken", "journal", "show", "--journal", hall_url, "--json"],
                              capture_output=True, text=True, timeout=60, check=False)
    finally:
        pg_bed.start()
    assert show.returncode == 13, show.stdout + show.stderr
    assert "cannot be reached" in json.loads(show.stdout)["message"]


def test_connection_settings_come_from_a_libpq_service_file(
        hall_url: str, pg_bed: PgBed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    database = hall_url.split("?")[0].rsplit("/", 1)[1]
    user = hall_url.rsplit("user=", 1)[1]
    service = tmp_path / "pg_service.conf"
    service.write_text(f"[hall]\nhost={pg_bed.socket_dir}\nport=5432\ndbname={database}\nuser={user}\n")
    monkeypatch.setenv("PGSERVICEFILE", str(service))
    with Journal("postgresql://?service=hall") as journal:
        assert journal.backend == "postgresql" and journal.schema_version() == SCHEMA_VERSION


def test_a_password_in_the_url_is_never_shown(hall_url: str) -> None:
    secret = "s3cret-Pa55"
    # A role the server does not know: the connection fails, and the message names the URL.
    url = hall_url.replace("postgresql:///", f"postgresql://nobody:{secret}@/", 1).rsplit("&user=", 1)[0]
    with pytest.raises(JournalError) as refused:
        Journal(url)
    assert secret not in str(refused.value) and "***" in str(refused.value)


def _show(location: str | Path, *args: str) -> str:
    from click.testing import CliRunner

    from sitoken.cli import cli

    done = CliRunner().invoke(cli, ["journal", "show", "--journal", str(location), *args])
    assert done.exit_code == 0, done.output
    return done.stdout


def test_journal_show_lists_who_holds_what(journal_at: str | Path) -> None:
    other = "440305200002292462"
    with Journal(journal_at, operator="clerk-9") as journal, Journal(journal_at, operator="b", lease=0.2) as brief:
        journal.claim(holder_resource(KEY))
        brief.claim(token_resource("SERIAL-7"))
        time.sleep(0.3)  # brief's lease runs out: listed, as stale
        claims = json.loads(_show(journal_at, "--json"))["claims"]
        text = _show(journal_at)
        assert json.loads(_show(journal_at, "--json", "--applicant-id", other))["claims"] == []
        assert [c["resource"] for c in json.loads(_show(journal_at, "--json", "--applicant-id", KEY))["claims"]] \
            == ["holder:1101**********1239"]
    assert [(c["resource"], c["operator"], c["live"]) for c in claims] == [
        ("holder:1101**********1239", "clerk-9", True), ("token:SERIAL-7", "b", False)]
    assert all(c["pid"] == os.getpid() and c["expires"] for c in claims)
    assert KEY not in text and f"claim holder:1101**********1239: clerk-9, pid {os.getpid()}" in text
    assert "token:SERIAL-7" in text and "stale" in text
    assert json.loads(_show(journal_at, "--json"))["claims"] == []  # closing the journals released them
