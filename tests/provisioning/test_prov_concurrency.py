"""N batch processes at once on one journal and token store, SIGKILLed at random instants, then resumed.

Each applicant must end provisioned exactly once: one enrolment, done once, on one token
that holds one key pair and one certificate; as many tokens as applicants, labels unique,
no claim left. The kills come at random wall-clock instants (not at the workflow's hook
points), so they land inside SQLite, SoftHSM and the CA as well as between steps.

The suite runs a small version; ``SITOKEN_CONCURRENCY_LARGE=1`` runs the large one
(figures in docs/integrator-guide.md).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from prov_support import INSPECT, child_env, many_applicants, write_batch

pytestmark = pytest.mark.slow

LARGE = os.environ.get("SITOKEN_CONCURRENCY_LARGE") == "1"
PROCESSES = 6 if LARGE else 3
APPLICANTS = 100 if LARGE else 40
KILL_ROUNDS = 4 if LARGE else 2
KILL_WINDOW = (0.5, 6.0) if LARGE else (0.5, 4.0)  # seconds after its start a process may be killed


def start(tmp: Path, batch: Path, count: int) -> list[subprocess.Popen[bytes]]:
    """``count`` batch processes, started together, on one journal and one token store."""
    args = [sys.executable, "-m", "sitoken", "batch", str(batch), "--resume", "--so-pin-env", "SO_PIN",
            "--generate-pins", str(tmp / "pins"), "--json"]
    env = child_env(tmp)
    return [subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(count)]


def kill_at_random(procs: list[subprocess.Popen[bytes]], rng: random.Random) -> list[int | None]:
    """SIGKILL each process at its own random instant (if it is still running then); their exit codes."""
    began = time.monotonic()
    deadlines = sorted((began + rng.uniform(*KILL_WINDOW), i) for i in range(len(procs)))
    for deadline, i in deadlines:
        time.sleep(max(0.0, deadline - time.monotonic()))
        if procs[i].poll() is None:
            procs[i].send_signal(signal.SIGKILL)
    return [p.wait(timeout=300) for p in procs]


def finish(procs: list[subprocess.Popen[bytes]]) -> list[dict[str, Any]]:
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, f"exit {p.returncode}: {err.decode()[-2000:]}"
        outs.append(json.loads(out))
    return outs


def inspect(tmp: Path) -> dict[str, Any]:
    probe = subprocess.run([sys.executable, "-c", INSPECT, str(tmp / "state"), str(tmp / "pins")],
                           env=child_env(tmp), capture_output=True, text=True, timeout=300, check=False)
    assert probe.returncode == 0, probe.stderr[-3000:]
    seen: dict[str, Any] = json.loads(probe.stdout)
    return seen


@pytest.mark.parametrize("seed", [5])
def test_processes_killed_at_random_instants_provision_each_applicant_exactly_once(
        tmp_path: Path, softhsm_path: str, seed: int) -> None:
    rng = random.Random(seed)
    people = many_applicants(APPLICANTS, seed)
    batch = write_batch(tmp_path / "batch.json", people)
    killed = 0
    for _ in range(KILL_ROUNDS):
        codes = kill_at_random(start(tmp_path, batch, PROCESSES), rng)
        killed += codes.count(-signal.SIGKILL)
        assert set(codes) <= {0, -signal.SIGKILL}, codes
    assert killed >= KILL_ROUNDS, "too few processes were killed for the test to mean anything"
    summaries = finish(start(tmp_path, batch, PROCESSES))  # all at once again, nobody killed

    # Every row ends done (by one of them) or already-done; none failed, none twice.
    for summary in summaries:
        assert summary["counts"]["failed"] == summary["counts"]["held"] == 0, summary["counts"]
    made = sum(s["counts"]["done"] for s in summaries)
    assert made <= APPLICANTS

    seen = inspect(tmp_path)
    enrolments = seen["enrolments"]
    assert sorted(e["subject"] for e in enrolments) == sorted(p["id_number"] for p in people), \
        "an applicant was provisioned twice, or not at all"
    assert all(e["state"] == "done" for e in enrolments)
    assert all(count == 1 for _, count in seen["done_events"]) and len(seen["done_events"]) == APPLICANTS
    labels = [label for label, _ in seen["tokens"]]
    assert len(labels) == APPLICANTS, f"{len(labels)} tokens for {APPLICANTS} applicants"
    assert [lab for lab, n in Counter(labels).items() if n > 1] == [], "duplicate token labels"
    assert sorted(s for _, s in seen["tokens"]) == sorted(e["serial"] for e in enrolments), "orphan token"
    for e in enrolments:
        assert e["keys"] == [[e["key_id"], True, True]], f"orphan or missing key: {e}"
        assert e["leaves"] == [True], f"orphan or missing certificate: {e}"
    assert seen["claims"] == 0, "a claim outlived the processes"
    assert not any(p["id_number"][-6:] in label for p in people for label in labels)
