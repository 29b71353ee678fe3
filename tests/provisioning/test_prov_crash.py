"""A batch killed with SIGKILL at random points, rerun with --resume: every holder exactly once, no orphan."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from prov_support import BAD_CHECK, INSPECT, ORG, PERSON, PERSON_2, child_env, write_batch

from sitoken.provisioning.workflow import CRASH_ENV

pytestmark = pytest.mark.slow

KILLS = 6  # per scenario; a 3-holder batch passes about 54 hook points
VALID = {PERSON["id_number"], ORG["credit_code"], PERSON_2["id_number"]}

def sitoken(args: list[str], env: dict[str, str]) -> int:
    return subprocess.run([sys.executable, "-m", "sitoken", *args], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, timeout=120, check=False).returncode


def unfinished(tmp: Path) -> int:
    path = tmp / "state" / "journal.sqlite"
    if not path.exists():
        return 0
    db = sqlite3.connect(path)
    try:
        return int(db.execute("SELECT count(*) FROM enrolments WHERE state != 'done'").fetchone()[0])
    finally:
        db.close()


def kill_repeatedly(tmp: Path, batch: Path, rng: random.Random) -> tuple[int, bool]:
    """Kill runs at random hook points (SIGKILL from inside) until KILLS kills or a run finishes."""
    args = ["batch", str(batch), "--so-pin-env", "SO_PIN", "--generate-pins", str(tmp / "pins")]
    kills, refused = 0, False
    for attempt in range(20):
        if kills >= KILLS:
            break
        if unfinished(tmp) and not refused:
            # Without --resume an interrupted batch stops before touching anything (exit 13).
            refused = sitoken(args, child_env(tmp)) == 13
        resume = ["--resume"] if attempt else []
        # Hook points sit on both sides of every token call and after every commit: the windows
        # the journal must survive. (Kills at arbitrary instants are not used here: they can
        # truncate SoftHSM's own token.object, which destroys the simulated token outright.)
        at = rng.randint(1, 10)  # small steps: several kills spread over the whole batch
        code = sitoken(args + resume, child_env(tmp, {CRASH_ENV: str(at)}))
        if code != -signal.SIGKILL:
            break
        kills += 1
    return kills, refused


@pytest.mark.parametrize("seed", [11, 23, 37, 41])
def test_killed_batch_resumes_to_exactly_one_of_everything(tmp_path: Path, softhsm_path: str, seed: int) -> None:
    rng = random.Random(seed)
    batch = write_batch(tmp_path / "batch.json", [PERSON, BAD_CHECK, ORG, PERSON_2])
    kills, refused = kill_repeatedly(tmp_path, batch, rng)
    assert kills >= 3, f"seed {seed}: the test killed too few runs to mean anything"
    assert refused, "an interrupted batch was rerun without --resume"
    final = sitoken(["batch", str(batch), "--so-pin-env", "SO_PIN", "--generate-pins", str(tmp_path / "pins"),
                     "--resume"], child_env(tmp_path))
    assert final == 15  # the one invalid row; everything else done

    probe = subprocess.run([sys.executable, "-c", INSPECT, str(tmp_path / "state"), str(tmp_path / "pins")],
                           env=child_env(tmp_path), capture_output=True, text=True, timeout=120, check=False)
    if probe.returncode != 0:
        listing = subprocess.run([sys.executable, "-m", "sitoken", "tokens", "--json"], env=child_env(tmp_path),
                                 capture_output=True, text=True, check=False).stdout
        db = sqlite3.connect(tmp_path / "state" / "journal.sqlite")
        log = db.execute("SELECT enrolment, step, outcome, detail FROM events").fetchall()
        pytest.fail(f"{probe.stderr}\n{listing}\n" + "\n".join(map(str, log)))
    seen: dict[str, Any] = json.loads(probe.stdout)
    enrolments = seen["enrolments"]
    assert sorted(e["subject"] for e in enrolments) == sorted(VALID)  # one enrolment per holder
    assert all(e["state"] == "done" for e in enrolments)
    assert sorted(s for _, s in seen["tokens"]) == sorted(e["serial"] for e in enrolments), "orphan token"
    for e in enrolments:
        assert e["keys"] == [[e["key_id"], True, True]], f"seed {seed}: orphan or missing key: {e}"
        assert e["leaves"] == [True], f"seed {seed}: orphan or missing certificate: {e}"
    assert seen["issued"] == len(VALID), f"seed {seed}: the CA issued {seen['issued']} certificates"


def test_destroyed_simulated_token_restarts_on_a_new_one(tmp_path: Path, softhsm_path: str) -> None:
    """A kill inside SoftHSM can leave a token unreadable; a rerun starts that holder again."""
    batch = write_batch(tmp_path / "batch.json", [PERSON])
    args = ["batch", str(batch), "--so-pin-env", "SO_PIN", "--generate-pins", str(tmp_path / "pins")]
    # Hook 8 sits after the key pair is made: the token exists and holds the holder's key.
    assert sitoken(args, child_env(tmp_path, {CRASH_ENV: "8"})) == -signal.SIGKILL
    db = sqlite3.connect(tmp_path / "state" / "journal.sqlite")
    label, state = db.execute("SELECT token_label, state FROM enrolments").fetchone()
    db.close()
    assert label and state not in ("validated", "done")
    # Destroy the token as a truncated token.object would: SoftHSM no longer lists it.
    env = child_env(tmp_path)
    conf = tmp_path / "sim" / "softhsm2.conf"
    subprocess.run(["softhsm2-util", "--delete-token", "--token", label], env={**env, "SOFTHSM2_CONF": str(conf)},
                   capture_output=True, check=True, timeout=60)
    assert sitoken([*args, "--resume"], env) == 0
    db = sqlite3.connect(tmp_path / "state" / "journal.sqlite")
    rows = db.execute("SELECT state, token_label FROM enrolments").fetchall()
    restarts = db.execute("SELECT detail FROM events WHERE step = 'validated' AND detail LIKE '%destroyed%'").fetchall()
    db.close()
    assert len(rows) == 1 and rows[0][0] == "done" and rows[0][1] != label
    assert len(restarts) == 1
