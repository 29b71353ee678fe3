"""Ctrl-C during a batch on a terminal: the current row finishes, what was done and the resume command
are printed, the exit status is 130, and the printed command carries on to the end."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from prov_support import PERSON, PERSON_2, PERSON_3, SO_PIN, write_batch

from cli_support import on_a_terminal
from sitoken.cli import exitcodes

pytestmark = pytest.mark.softhsm


def _run_on_a_terminal_and_interrupt(args: list[str], env: dict[str, str], when: bytes) -> tuple[int, str]:
    """Run sitoken on a pseudo-terminal; send SIGINT once ``when`` shows on the screen."""
    code, seen, sent = on_a_terminal(args, env, when, lambda proc, _: proc.send_signal(signal.SIGINT))
    assert sent, seen.decode(errors="replace")
    return code, seen.decode(errors="replace")


def test_ctrl_c_finishes_the_row_reports_and_resumes(tmp_path: Path, softhsm_path: str) -> None:
    batch = write_batch(tmp_path / "three.json", [PERSON, PERSON_2, PERSON_3])
    env = {k: v for k, v in os.environ.items() if k not in ("SOFTHSM2_CONF", "SITOKEN_MODULE")}
    env.update({"SITOKEN_SIM_DIR": str(tmp_path / "sim"), "SITOKEN_STATE_DIR": str(tmp_path / "state"),
                "SO_PIN": SO_PIN})
    args = ["batch", str(batch), "--so-pin-env", "SO_PIN", "--generate-pins", str(tmp_path / "pins")]
    # The bar appears as the first row starts: Ctrl-C then lets that row finish and stops there.
    code, screen = _run_on_a_terminal_and_interrupt(args, env, b"provisioning [")
    assert code == exitcodes.INTERRUPTED, screen
    assert "finishing the current row" in screen
    assert re.search(r"row 1: \S+ done", screen) and "row 2:" not in screen  # the row line came as it happened
    assert "interrupted after 1 of 3 row(s) (1 done)" in screen
    resume = screen.split("carry on with: ", 1)[1].splitlines()[0].strip()
    assert resume.startswith("sitoken batch ") and resume.endswith("--resume")
    # The printed command, as the operator would paste it (with --json to read the result).
    again = subprocess.run([sys.executable, "-m", "sitoken", *shlex.split(resume)[1:], "--json"], env=env,
                           capture_output=True, text=True, timeout=180)
    assert again.returncode == 0, again.stderr
    outcomes = [r["outcome"] for r in json.loads(again.stdout)["rows"]]
    assert outcomes == ["already-done", "done", "done"]


def test_batch_rows_print_as_they_happen_when_piped(tmp_path: Path, softhsm_path: str) -> None:
    """Without a terminal: plain lines, one per row, no bar and no control characters."""
    batch = write_batch(tmp_path / "one.json", [PERSON])
    env = {k: v for k, v in os.environ.items() if k not in ("SOFTHSM2_CONF", "SITOKEN_MODULE")}
    env.update({"SITOKEN_SIM_DIR": str(tmp_path / "sim"), "SITOKEN_STATE_DIR": str(tmp_path / "state"),
                "SO_PIN": SO_PIN})
    done = subprocess.run([sys.executable, "-m", "sitoken", "batch", str(batch), "--so-pin-env", "SO_PIN",
                           "--generate-pins", str(tmp_path / "pins")], env=env, capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stderr
    assert re.match(r"row 1: \S+ done", done.stdout.splitlines()[0]), done.stdout
    assert "\x1b[" not in done.stdout + done.stderr and "provisioning [" not in done.stderr
