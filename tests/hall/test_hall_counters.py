"""Two counters, each with its own token store, one PostgreSQL journal: nobody is provisioned twice.

The counters are separate processes with separate SoftHSM stores and state directories (their
own local CA), named by ``SITOKEN_COUNTER``, sharing only the journal URL, as two machines of
a hall would. Their batch files overlap; processes are SIGKILLed at random wall-clock instants,
then everything is resumed. The journal server is also stopped in the middle of a batch.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from prov_support import child_env, many_applicants, write_batch
from testbed.pg_bed import PgBed

from sitoken.provisioning.journal import Journal

pytestmark = pytest.mark.slow

APPLICANTS = 40
SPLIT = {"A": slice(0, 28), "B": slice(12, 40)}  # rows 12-27 are in both counters' files
LIST_TOKENS = "import json; from sitoken.discovery import list_tokens; " \
              "print(json.dumps([[t.label, t.serial] for t in list_tokens()]))"


def counter_env(tmp: Path, name: str, url: str) -> dict[str, str]:
    return child_env(tmp / name, {"SITOKEN_JOURNAL": url, "SITOKEN_COUNTER": name})


def batch_process(tmp: Path, name: str, url: str, batch: Path) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "sitoken", "batch", str(batch), "--resume", "--so-pin-env", "SO_PIN",
            "--generate-pins", str(tmp / name / "pins"), "--json"]
    return subprocess.Popen(args, env=counter_env(tmp, name, url), stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def prepare(tmp: Path, people: list[dict[str, Any]]) -> dict[str, Path]:
    files = {}
    for name, rows in SPLIT.items():
        (tmp / name / "pins").mkdir(parents=True, mode=0o700)
        # B takes its rows from the end, so the two counters meet inside the shared rows.
        files[name] = write_batch(tmp / f"{name}.json", people[rows] if name == "A" else people[rows][::-1])
    return files


def tokens_of(tmp: Path, name: str, url: str) -> list[list[str]]:
    done = subprocess.run([sys.executable, "-c", LIST_TOKENS], env=counter_env(tmp, name, url),
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    listed: list[list[str]] = json.loads(done.stdout)
    return listed


def finish_all(tmp: Path, url: str, files: dict[str, Path]) -> dict[str, dict[str, Any]]:
    """Both counters resume at once; one that left rows to the other (held) runs once more after."""
    procs = {name: batch_process(tmp, name, url, path) for name, path in files.items()}
    summaries = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=900)
        assert proc.returncode in (0, 15), f"{name}: exit {proc.returncode}: {err.decode()[-2000:]}"
        summaries[name] = json.loads(out)
    for name, summary in summaries.items():
        if summary["counts"]["held"]:
            again = batch_process(tmp, name, url, files[name])
            out, err = again.communicate(timeout=900)
            assert again.returncode == 0, f"{name}: exit {again.returncode}: {err.decode()[-2000:]}"
            summaries[name] = json.loads(out)
    for summary in summaries.values():
        assert summary["counts"]["failed"] == summary["counts"]["held"] == 0, summary["counts"]
    return summaries


def assert_each_applicant_once(tmp: Path, url: str, people: list[dict[str, Any]]) -> None:
    with Journal(url) as journal:
        enrolments = journal.enrolments()
        done_events = Counter(e.enrolment for e in journal.events() if e.step == "done")
        claims = journal.store.execute("SELECT count(*) FROM claims").fetchone()[0]
        audit_counters = {r[0] for r in journal.store.execute("SELECT DISTINCT counter FROM audit").fetchall()}
    assert sorted(e.subject_key for e in enrolments) == sorted(p["id_number"] for p in people), \
        "an applicant was provisioned twice, or not at all"
    assert all(e.state == "done" for e in enrolments)
    assert set(done_events.values()) == {1} and len(done_events) == len(people)
    assert claims == 0, "a claim outlived the processes"
    assert audit_counters == {"A", "B"}
    stores = {name: tokens_of(tmp, name, url) for name in SPLIT}
    serials = {name: {serial for _, serial in listed} for name, listed in stores.items()}
    labels = [label for listed in stores.values() for label, _ in listed]
    assert len(labels) == len(people), f"{len(labels)} tokens for {len(people)} applicants"
    assert [lab for lab, n in Counter(labels).items() if n > 1] == [], "duplicate token labels"
    for e in enrolments:
        assert e.token_serial in serials[e.counter or "?"], f"enrolment {e.id}'s token is not at its counter"


def test_two_counters_killed_at_random_instants_provision_each_applicant_once(
        tmp_path: Path, hall_url: str, softhsm_path: str) -> None:
    rng = random.Random(11)
    people = many_applicants(APPLICANTS, 11)
    files = prepare(tmp_path, people)
    killed = 0
    for _ in range(2):
        procs = [batch_process(tmp_path, name, hall_url, path) for name, path in files.items()]
        for proc in procs:
            time.sleep(rng.uniform(0.8, 3.0))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                killed += 1
        codes = [p.wait(timeout=300) for p in procs]
        assert set(codes) <= {0, 15, -signal.SIGKILL}, codes
    assert killed >= 2, "too few processes were killed for the test to mean anything"
    finish_all(tmp_path, hall_url, files)
    assert_each_applicant_once(tmp_path, hall_url, people)


def _stop_after_first_done(proc: subprocess.Popen[bytes], url: str, bed: PgBed) -> None:
    while proc.poll() is None:
        with Journal(url) as journal:
            if any(e.state == "done" for e in journal.enrolments()):
                break
        time.sleep(0.02)
    bed.stop(mode="immediate")


def test_the_server_stopped_mid_batch_stops_it_plainly_and_resume_finishes(
        tmp_path: Path, hall_url: str, pg_bed: PgBed, softhsm_path: str) -> None:
    people = many_applicants(12, 3)
    batch = write_batch(tmp_path / "A.json", people)
    (tmp_path / "A" / "pins").mkdir(parents=True, mode=0o700)
    proc = batch_process(tmp_path, "A", hall_url, batch)
    # Stopped once the first holder is done, not after a fixed delay: an idle machine finished all
    # twelve within two seconds, and the test then had nothing to test.
    stopper = threading.Thread(target=_stop_after_first_done, args=(proc, hall_url, pg_bed))
    stopper.start()
    try:
        out, err = proc.communicate(timeout=300)
    finally:
        stopper.join()
        pg_bed.start()
    if proc.returncode == 0:
        pytest.fail("the batch finished before the server was stopped: nothing was tested")
    assert proc.returncode == 13, err.decode()[-2000:]
    report = json.loads(out)
    assert report["error"] == "journal-unreachable" and "nothing was written" in report["message"]
    resumed = batch_process(tmp_path, "A", hall_url, batch)
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err.decode()[-2000:]
    with Journal(hall_url) as journal:
        enrolments = journal.enrolments()
    assert sorted(e.subject_key for e in enrolments) == sorted(p["id_number"] for p in people)
    assert all(e.state == "done" for e in enrolments)
    assert len(tokens_of(tmp_path, "A", hall_url)) == len(people)


def test_work_left_at_one_counter_is_not_taken_over_by_another(
        tmp_path: Path, hall_url: str, softhsm_path: str) -> None:
    from sitoken.provisioning.workflow import CRASH_ENV

    people = many_applicants(1, 5)
    batch = write_batch(tmp_path / "one.json", people)
    for name in ("A", "B"):
        (tmp_path / name / "pins").mkdir(parents=True, mode=0o700)
    args = [sys.executable, "-m", "sitoken", "batch", str(batch), "--resume", "--so-pin-env", "SO_PIN", "--json"]

    def run(name: str, crash_at: str = "") -> subprocess.CompletedProcess[str]:
        env = {**counter_env(tmp_path, name, hall_url), **({CRASH_ENV: crash_at} if crash_at else {})}
        return subprocess.run([*args, "--generate-pins", str(tmp_path / name / "pins")], env=env,
                              capture_output=True, text=True, timeout=300, check=False)

    assert run("A", crash_at="2").returncode == -signal.SIGKILL  # killed just after initialising the token
    with Journal(hall_url) as journal:
        (left,) = journal.enrolments()
    assert left.counter == "A" and left.token_label is not None and left.state == "validated"

    at_b = run("B")
    assert at_b.returncode == 15, at_b.stderr[-2000:]
    (row,) = json.loads(at_b.stdout)["rows"]
    assert row["outcome"] == "held" and row["held_by"] == {"counter": "A", "enrolment": left.id}
    assert tokens_of(tmp_path, "B", hall_url) == [], "counter B made a token for a holder whose token is at A"

    assert run("A").returncode == 0
    with Journal(hall_url) as journal:
        (done,) = journal.enrolments()
    assert done.state == "done" and done.counter == "A"
    assert [serial for _, serial in tokens_of(tmp_path, "A", hall_url)] == [done.token_serial]
