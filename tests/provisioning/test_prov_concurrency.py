"""N batch processes at once on one journal and token store, SIGKILLed at random instants, then resumed.

Each applicant must end provisioned exactly once: one enrolment, done once, on one token
that holds one key pair and one certificate; as many tokens as applicants, labels unique,
no claim left. The kills come at random wall-clock instants (not at the workflow's hook
points), so they land inside SQLite, SoftHSM and the CA as well as between steps.

It runs on both journal backends: the state directory's SQLite file, and a database on the
suite's shared PostgreSQL server (``SITOKEN_JOURNAL``), read back through the journal's interface.
The suite runs a small version (smaller still on PostgreSQL, with the same assertions: the
server's journal is tested at length by tests/hall); ``SITOKEN_CONCURRENCY_LARGE=1`` runs the
large one on both (figures in docs/integrator-guide.md).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prov_support import INSPECT, child_env, many_applicants, write_batch

from pg_support import journal_on

LARGE = os.environ.get("SITOKEN_CONCURRENCY_LARGE") == "1"
# Longer than the suite's 120 s per test: N processes on a shared, loaded machine; the large run far more.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200 if LARGE else 300)]


@dataclass(frozen=True)
class Size:
    processes: int  # at a time
    applicants: int
    churn: float  # seconds of processes started and killed, before the last round


SIZES = {"sqlite": Size(6, 100, 120.0) if LARGE else Size(3, 40, 24.0),
         "postgresql": Size(6, 100, 120.0) if LARGE else Size(2, 30, 6.0)}  # 12 were done before 2 kills, idle
# A process is SIGKILLed this many seconds after its start (uniform): past its start-up, in its work.
# The small run is over in a few seconds on an idle machine: kills must land within them.
LIFETIME = (3.0, 30.0) if LARGE else (0.5, 4.0)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Size, dict[str, str]]:
    """The run's size and the environment that points the batches at the journal: none for the
    state directory's SQLite file, ``SITOKEN_JOURNAL`` for a migrated database on the shared server."""
    location = journal_on(request, tmp_path / "state" / "journal.sqlite")
    return SIZES[request.param], ({"SITOKEN_JOURNAL": location} if isinstance(location, str) else {})


def start(tmp: Path, batch: Path, count: int, journal: dict[str, str],
          out: Any = subprocess.PIPE) -> list[subprocess.Popen[bytes]]:
    """``count`` batch processes, started together, on one journal and one token store."""
    args = [sys.executable, "-m", "sitoken", "batch", str(batch), "--resume", "--so-pin-env", "SO_PIN",
            "--generate-pins", str(tmp / "pins"), "--json"]
    env = child_env(tmp, journal)
    return [subprocess.Popen(args, env=env, stdout=out, stderr=out) for _ in range(count)]


def churn(tmp: Path, batch: Path, rng: random.Random, size: Size, journal: dict[str, str]) -> list[int]:
    """For ``size.churn`` seconds keep ``size.processes`` batches running, each SIGKILLed at a random
    instant of its life (and replaced at once); returns every exit code."""
    end, codes = time.monotonic() + size.churn, []
    running: list[tuple[float, subprocess.Popen[bytes], Path]] = []
    (tmp / "logs").mkdir(exist_ok=True)
    serial = itertools.count()  # one log per process, kept for the assertion's message
    while time.monotonic() < end or running:
        while time.monotonic() < end and len(running) < size.processes:
            log = tmp / "logs" / f"{next(serial)}.out"
            with log.open("wb") as out:
                (proc,) = start(tmp, batch, 1, journal, out)
            running.append((time.monotonic() + rng.uniform(*LIFETIME), proc, log))
        for item in list(running):
            deadline, proc, log = item
            if proc.poll() is None and time.monotonic() >= deadline:
                proc.send_signal(signal.SIGKILL)
            if proc.poll() is not None or time.monotonic() >= deadline:
                codes.append(proc.wait(timeout=300))
                running.remove(item)
                assert codes[-1] in (0, -signal.SIGKILL), log.read_text()[-3000:]
        time.sleep(0.05)
    return codes


def finish(procs: list[subprocess.Popen[bytes]]) -> list[dict[str, Any]]:
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        try:
            rows = [r for r in json.loads(out)["rows"] if r["outcome"] not in ("done", "already-done")]
        except (ValueError, KeyError):
            rows = [out.decode()[-2000:]]
        assert p.returncode == 0, f"exit {p.returncode}: {rows} {err.decode()[-2000:]}"
        outs.append(json.loads(out))
    return outs


def inspect(tmp: Path, journal: dict[str, str]) -> dict[str, Any]:
    probe = subprocess.run([sys.executable, "-c", INSPECT, str(tmp / "state"), str(tmp / "pins")],
                           env=child_env(tmp, journal), capture_output=True, text=True, timeout=300, check=False)
    assert probe.returncode == 0, probe.stderr[-3000:]
    seen: dict[str, Any] = json.loads(probe.stdout)
    return seen


@pytest.mark.parametrize("seed", [5])
def test_processes_killed_at_random_instants_provision_each_applicant_exactly_once(
        tmp_path: Path, softhsm_path: str, seed: int, backend: tuple[Size, dict[str, str]]) -> None:
    size, journal = backend
    rng = random.Random(seed)
    people = many_applicants(size.applicants, seed)
    batch = write_batch(tmp_path / "batch.json", people)
    codes = churn(tmp_path, batch, rng, size, journal)
    killed = codes.count(-signal.SIGKILL)
    assert set(codes) <= {0, -signal.SIGKILL}, codes
    assert killed >= size.processes, "too few processes were killed for the test to mean anything"
    summaries = finish(start(tmp_path, batch, size.processes, journal))  # all at once again, nobody killed

    # Every row ends done (by one of them) or already-done; none failed, none twice.
    for summary in summaries:
        assert summary["counts"]["failed"] == summary["counts"]["held"] == 0, summary["counts"]
    made = sum(s["counts"]["done"] for s in summaries)
    assert made <= size.applicants

    seen = inspect(tmp_path, journal)
    enrolments = seen["enrolments"]
    assert sorted(e["subject"] for e in enrolments) == sorted(p["id_number"] for p in people), \
        "an applicant was provisioned twice, or not at all"
    assert all(e["state"] == "done" for e in enrolments)
    assert all(count == 1 for _, count in seen["done_events"]) and len(seen["done_events"]) == size.applicants
    labels = [label for label, _ in seen["tokens"]]
    assert len(labels) == size.applicants, f"{len(labels)} tokens for {size.applicants} applicants"
    assert [lab for lab, n in Counter(labels).items() if n > 1] == [], "duplicate token labels"
    assert sorted(s for _, s in seen["tokens"]) == sorted(e["serial"] for e in enrolments), "orphan token"
    for e in enrolments:
        assert e["keys"] == [[e["key_id"], True, True]], f"orphan or missing key: {e}"
        assert e["leaves"] == [True], f"orphan or missing certificate: {e}"
    assert seen["claims"] == 0, "a claim outlived the processes"
    print(f"\n{size.processes} processes at a time for {size.churn:.0f} s, then {size.processes} more to the end, "
          f"{size.applicants} applicants: {len(codes)} started and {killed} killed, "
          f"{seen['takeovers']} claims taken over, {seen['restarts']} destroyed tokens restarted, "
          f"{size.applicants - made} rows done before the last round")
    assert not any(p["id_number"][-6:] in label for p in people for label in labels)
