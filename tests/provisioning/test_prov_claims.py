"""Claims in the journal: one process per holder, a lease that dies with its owner, and writes that check it."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from prov_support import PERSON, Bed, open_by_label, validated

from sitoken.errors import JournalError
from sitoken.provisioning.claims import ClaimHeld, ClaimLost, holder_resource
from sitoken.provisioning.journal import Journal

KEY = PERSON["id_number"]
HOLDER = holder_resource(KEY)


def test_a_live_claim_is_never_taken(bed: Bed) -> None:
    first, second = Journal(bed.journal, operator="clerk-1"), Journal(bed.journal, operator="clerk-2")
    first.claim(HOLDER)
    with pytest.raises(ClaimHeld) as held:
        second.claim(HOLDER, "holder X")
    assert held.value.claim.owner.operator == "clerk-1" and held.value.claim.owner.pid == os.getpid()
    assert "clerk-1" in str(held.value) and held.value.to_dict()["held_by"]["operator"] == "clerk-1"
    assert second.claim_of(HOLDER) is not None
    first.release(HOLDER)
    second.claim(HOLDER)  # released: free for the next one
    first.close()
    second.close()


def test_a_dead_owners_claim_is_taken_over_and_journalled(bed: Bed, tmp_path: Path) -> None:
    # A process claims the holder and is killed: its claim stays in the journal, its lease long.
    child = (f"from sitoken.provisioning.journal import Journal\nimport os, signal\n"
             f"j = Journal({str(bed.journal)!r}, operator='killed', lease=3600)\n"
             f"j.claim({HOLDER!r})\nos.kill(os.getpid(), signal.SIGKILL)\n")
    done = subprocess.run([sys.executable, "-c", child], timeout=60, check=False)
    assert done.returncode == -signal.SIGKILL
    journal = Journal(bed.journal, operator="clerk-2")
    left = sqlite3.connect(bed.journal).execute("SELECT operator, expires FROM claims").fetchall()
    assert left and left[0][0] == "killed" and left[0][1] > time.time() + 3000  # the lease has not run out
    assert journal.claim_of(HOLDER) is None  # its owner is dead: nobody holds it
    journal.claim(HOLDER)
    takeover = [e for e in journal.events() if e.step == "claim-takeover"]
    assert len(takeover) == 1 and takeover[0].detail["reason"] == "owner process gone"
    assert takeover[0].subject_key == KEY and takeover[0].to_dict()["subject"] != KEY  # masked when shown
    journal.close()


def test_a_renewal_and_a_release_are_seen_at_once_and_every_other_commit_stays_synced(bed: Bed) -> None:
    # hold() and release() skip the sync to disk (journal.transaction), never the commit: another
    # connection sees the new lease and the release immediately.
    journal = Journal(bed.journal, operator="clerk-1", lease=50)
    other = sqlite3.connect(bed.journal)
    journal.claim(HOLDER)
    before = other.execute("SELECT expires FROM claims").fetchone()[0]
    journal.lease = 5000
    journal.hold(HOLDER)
    assert other.execute("SELECT expires FROM claims").fetchone()[0] > before + 4000
    synchronous = journal.store.execute("PRAGMA synchronous").fetchone()[0]
    assert synchronous == 2  # FULL again for the journal's records
    journal.release(HOLDER)
    assert other.execute("SELECT count(*) FROM claims").fetchone()[0] == 0
    assert journal.store.execute("PRAGMA synchronous").fetchone()[0] == 2
    other.close()
    journal.close()


def test_an_expired_lease_is_taken_over_and_the_loser_writes_nothing(bed: Bed) -> None:
    loser = Journal(bed.journal, operator="slow", lease=0.3)
    loser.claim(HOLDER)
    enrolment = loser.start(KEY, "personal", PERSON)
    time.sleep(0.5)
    winner = Journal(bed.journal, operator="clerk-2")
    winner.claim(HOLDER)  # the owner lives (this process) but its lease ran out
    assert [e.detail["reason"] for e in winner.events() if e.step == "claim-takeover"] == ["lease expired"]
    before = len(winner.events())
    with pytest.raises(ClaimLost):
        loser.advance(enrolment, "token-ready", token_label="SI-X")
    with pytest.raises(ClaimLost):
        loser.hold(HOLDER)
    assert winner.enrolment(enrolment.id).state == "validated" and len(winner.events()) == before
    winner.advance(enrolment, "token-ready")  # the holder of the claim goes on
    loser.close()  # releasing on close leaves the winner's claim alone
    assert winner.claim_of(HOLDER) is not None
    winner.close()


def test_a_write_without_the_claim_is_refused(bed: Bed) -> None:
    journal = Journal(bed.journal)
    with pytest.raises(JournalError, match="without its claim"):
        journal.start(KEY, "personal", PERSON)
    assert journal.enrolments() == []
    journal.close()


def test_a_step_from_a_stale_state_is_refused(bed: Bed) -> None:
    journal = Journal(bed.journal)
    with journal.claimed(HOLDER):
        enrolment = journal.start(KEY, "personal", PERSON)
        journal.advance(enrolment, "token-ready")
        with pytest.raises(JournalError, match="another writer"):
            journal.advance(enrolment, "token-ready")  # the stale copy still says "validated"
    journal.close()


def test_a_locked_journal_says_what_it_waits_for(bed: Bed) -> None:
    Journal(bed.journal).close()
    blocker = sqlite3.connect(bed.journal, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")  # another process writing, for 2.5 s
    threading.Timer(2.5, lambda: blocker.execute("COMMIT")).start()
    said: list[str] = []
    journal = Journal(bed.journal, waiting=said.append)
    began = time.monotonic()
    journal.claim(HOLDER)  # waits, says so once, then goes on
    assert time.monotonic() - began >= 2.0
    assert len(said) == 1 and "waiting for the journal" in said[0] and "locked by another process" in said[0]
    journal.close()
    blocker.close()


def test_provisioning_a_holder_another_process_holds_makes_nothing(make_counter: Any, bed: Bed) -> None:
    holder = Journal(bed.journal, operator="clerk-1")
    holder.claim(HOLDER)
    counter = make_counter()
    with pytest.raises(ClaimHeld):
        counter.provision(validated(PERSON))
    assert counter.journal.enrolments() == [] and counter.journal.holder(KEY) is None
    holder.close()


def test_a_takeover_finds_the_token_a_dead_process_made_after_this_one_loaded_the_module(
        make_counter: Any, bed: Bed) -> None:
    from prov_support import PINS, write_batch

    from sitoken.discovery import list_tokens
    from sitoken.provisioning.workflow import CRASH_ENV

    list_tokens()  # this process has loaded SoftHSM: its own token list is fixed from now on
    # What the store holds, read afresh (another test's processes may have added tokens since
    # this process loaded the module, and a takeover's re-load would show them as new).
    before = _serials_in_store()
    one = write_batch(bed.root / "one.json", [PERSON])
    env = {**os.environ, **PINS, "SITOKEN_STATE_DIR": str(bed.root / "state"), CRASH_ENV: "4"}  # after token init
    killed = subprocess.run([sys.executable, "-m", "sitoken", "provision", "--applicant", str(one), "--so-pin-env",
                             "SO_PIN", "--holder-pin-env", "HOLDER_PIN"], env=env, capture_output=True, timeout=120,
                            check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    done = make_counter().provision(validated(PERSON))  # takes the dead process's claim and its token over
    assert done.state == "done" and not any("starting again" in n for n in done.notes), done.notes
    made = [(label, serial) for serial, label in _serials_in_store().items() if serial not in before]
    assert made == [(done.token_label, done.token_serial)]


def _serials_in_store() -> dict[str, str]:
    """Serial -> label of every token in the store, as a fresh process sees it."""
    listed = subprocess.run([sys.executable, "-m", "sitoken", "tokens", "--json"], capture_output=True, text=True,
                            timeout=120, check=True)
    return {t["serial"]: t["label"] for t in json.loads(listed.stdout) if t["initialized"]}


def _wait_stopped(pid: int) -> None:
    for _ in range(600):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        if fields[0] == "T":
            return
        time.sleep(0.1)
    raise AssertionError("the process never stopped at its hook")


def test_a_stalled_process_whose_lease_was_taken_over_makes_nothing_when_it_wakes(bed: Bed) -> None:
    from prov_support import PINS, write_batch

    from sitoken.discovery import list_tokens, load_module
    from sitoken.provisioning.claims import LEASE_ENV
    from sitoken.provisioning.workflow import STOP_ENV

    before = {t.serial for t in list_tokens()}
    one = write_batch(bed.root / "one.json", [PERSON])
    args = [sys.executable, "-m", "sitoken", "provision", "--applicant", str(one), "--so-pin-env", "SO_PIN",
            "--holder-pin-env", "HOLDER_PIN", "--json"]
    env = {**os.environ, **PINS, "SITOKEN_STATE_DIR": str(bed.root / "state"), LEASE_ENV: "1"}
    # Stopped right before generating the key (its token made, the key's id journalled), like a
    # suspended laptop: if it went on after waking, the token would hold a second key pair.
    stalled = subprocess.Popen(args, env={**env, STOP_ENV: "7"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_stopped(stalled.pid)
        time.sleep(1.5)  # its lease runs out
        other = subprocess.run([*args, "--resume"], env=env, capture_output=True, text=True, timeout=120, check=False)
        assert other.returncode == 0, other.stderr
    finally:
        stalled.send_signal(signal.SIGCONT)
    out, _ = stalled.communicate(timeout=120)
    assert stalled.returncode == 13, out
    assert b"claim-lost" in out
    journal = Journal(bed.journal)
    (enrolment,) = journal.enrolments()
    assert enrolment.state == "done"
    steps = [e.step for e in journal.events(enrolment.id)]
    assert steps.count("key-ready") == 1 and steps.count("done") == 1 and "claim-takeover" in [
        e.step for e in journal.events()]
    journal.close()
    load_module().reinitialize()  # this process's SoftHSM lists the tokens its children made only then
    token = open_by_label(enrolment.token_label or "")
    assert [(k.id, k.has_private, k.has_public) for k in token.keys()] == [(enrolment.key_id, True, True)]
    token.close()
    made = [t.serial for t in list_tokens() if t.serial not in before]
    assert made == [enrolment.token_serial]  # one token, the stalled one's, finished by the other process


def test_a_batch_reports_rows_another_process_holds_and_takes_them_once_let_go(make_counter: Any, bed: Bed) -> None:
    from prov_support import ON, PERSON_2, PERSON_3

    from sitoken.provisioning.applicant import validate_all
    from sitoken.provisioning.batch import run_batch

    other = Journal(bed.journal, operator="clerk-1")
    other.claim(HOLDER)
    rows = validate_all([PERSON_2, PERSON, PERSON_3], on=ON)
    summary = run_batch(make_counter(), rows, held_patience=0.5)
    held = [r for r in summary.rows if r.outcome == "held"]
    assert [r.subject for r in held] == ["1101**********1239"]
    assert held[0].held_by is not None and held[0].held_by["operator"] == "clerk-1"
    assert summary.count("done") == 2 and not summary.complete  # exit 15: this run did not finish that row
    # Let go (as clerk-1's release does) while a second batch waits at its end: it takes the row then.
    threading.Timer(1.0, lambda: _release_all(bed.journal)).start()
    again = run_batch(make_counter(), rows, held_patience=30)
    assert [r.outcome for r in again.rows] == ["already-done", "done", "already-done"]
    other.close()


def _release_all(path: Path) -> None:
    db = sqlite3.connect(path)  # in the timer's thread: a connection of its own
    with db:
        db.execute("DELETE FROM claims")
    db.close()


def test_the_cli_says_what_it_waits_for_when_the_journal_is_locked(bed: Bed) -> None:
    from prov_support import PINS, write_batch

    Journal(bed.journal).close()
    one = write_batch(bed.root / "one.json", [PERSON])
    blocker = sqlite3.connect(bed.journal, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process writing, until the CLI says it waits
    env = {**os.environ, **PINS, "SITOKEN_STATE_DIR": str(bed.root / "state")}
    err = bed.root / "stderr.txt"
    with err.open("wb") as sink:
        run = subprocess.Popen([sys.executable, "-m", "sitoken", "provision", "--applicant", str(one),
                                "--so-pin-env", "SO_PIN", "--holder-pin-env", "HOLDER_PIN", "--json"],
                               env=env, stdout=subprocess.DEVNULL, stderr=sink)
    try:
        for _ in range(1200):
            if "waiting for the journal" in err.read_text() or run.poll() is not None:
                break
            time.sleep(0.1)
    finally:
        blocker.execute("COMMIT")
        blocker.close()
    assert run.wait(timeout=120) == 0, err.read_text()
    assert "waiting for the journal" in err.read_text() and "locked by another process" in err.read_text()


def test_a_killed_owner_not_yet_reaped_is_dead(bed: Bed) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        from sitoken.provisioning.claims import Owner, process_start

        owner = Owner(socket.gethostname(), child.pid, process_start(child.pid) or "", "c", "op")
        assert owner.alive()
        child.send_signal(signal.SIGKILL)
        for _ in range(100):  # a zombie until its parent waits for it
            if Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                break
            time.sleep(0.05)
        assert not owner.alive()
    finally:
        child.wait(timeout=60)
