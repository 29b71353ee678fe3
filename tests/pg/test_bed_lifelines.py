"""A test run that is SIGKILLed takes its beds' servers with it (testbed/lifeline.py).

A child process plays the pytest run: it starts a bed as the suite's support code does (the
lifeline first, then the server), says the server's pid, and sleeps. The test SIGKILLs it, so
nothing of its own clean-up runs, and the server must be gone within a few seconds. Each bed
gets its own small server here (PostgreSQL: an initdb; pcscd without cards; a p11-kit server
with one token and no keys; the SSH far machine's sshd): the shared ones must live on for the
rest of the run.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from testbed.lifeline import process_state

from bed_support import require

ROOT = Path(__file__).resolve().parents[2]
#: Seconds a killed run's server may outlive it: the lifeline's start, then the bed's stop.
GONE_WITHIN = 20.0

PARENT = r"""
import sys, time
from pathlib import Path
kind, directory = sys.argv[1], Path(sys.argv[2])
if kind == "pg":
    from testbed.pg_bed import PgBed
    bed = PgBed(directory)
    lifeline = bed.lifeline()
    bed.start()
    pid = int((bed.data / "postmaster.pid").read_text().split()[0])
elif kind == "pcsc":
    from testbed.pcsc_bed import PcscBed
    directory.mkdir()
    bed = PcscBed(directory=directory)
    lifeline = bed.lifeline()
    bed.start()
    pid = int((directory / "pcscd.pid").read_text())
elif kind == "sshd":
    from testbed.p11kit_bed import SshRemote
    directory.mkdir()
    bed = SshRemote(directory)
    lifeline = bed.lifeline()
    bed.start()
    pid = int((directory / "sshd.pid").read_text())
else:
    from testbed.p11kit_bed import RemoteBed
    directory.mkdir()
    bed = RemoteBed(directory)
    lifeline = bed.lifeline()
    bed.start(["lifeline"], keys=False)
    pid = int((directory / "server.pid").read_text())
print(pid, flush=True)
time.sleep(600)
"""


def running(pid: int) -> bool:
    """The process exists and has not ended (a zombie has ended: only its parent can remove it)."""
    return process_state(pid) not in ("", "Z", "X")


def require_bed(kind: str) -> None:
    if kind == "pg":
        from testbed.pg_bed import PgBedUnavailable, server_bin_dir

        try:
            server_bin_dir()
        except PgBedUnavailable as exc:
            require(False, f"PostgreSQL test bed: {exc}")
    elif kind == "pcsc":
        from testbed.pcsc_bed import BedUnavailable, check_prerequisites

        try:
            check_prerequisites()
        except BedUnavailable as exc:
            require(False, f"PC/SC test bed: {exc}")
    else:
        from testbed.p11kit_bed import missing_parts

        missing = missing_parts()
        require(not missing, "p11-kit test bed: " + ", ".join(missing))


@pytest.fixture
def bed_parent() -> Iterator[Path]:
    """Where the child's bed goes: under /tmp itself, as the suite's beds are, not under pytest's
    basetemp, which a pytest starting meanwhile on this machine makes 0700 again: postgres (the
    server's account under root) would then be shut out of its own directory."""
    folder = Path(tempfile.mkdtemp(prefix="sitoken-lifeline-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("kind", ["pg", "pcsc", "p11kit", "sshd"])
def test_a_killed_test_run_takes_its_bed_server_with_it(kind: str, bed_parent: Path) -> None:
    require_bed(kind)
    directory = bed_parent / kind
    env = {k: v for k, v in os.environ.items() if k != "PCSCLITE_CSOCK_NAME"}  # the child's own pcscd
    parent = subprocess.Popen([sys.executable, "-c", PARENT, kind, str(directory)], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = parent.stdout.readline() if parent.stdout else ""
        assert line.strip(), f"the bed did not start: {parent.stderr.read() if parent.stderr else ''}"
        pid = int(line)
        assert running(pid)
    finally:
        parent.send_signal(signal.SIGKILL)  # no atexit, no finaliser, no session end: only the lifeline
        parent.wait(30)
    deadline = time.monotonic() + GONE_WITHIN
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not running(pid), f"the {kind} bed's server (pid {pid}) outlived the killed run"
    if kind == "pg":
        deadline = time.monotonic() + 5.0
        while directory.exists() and time.monotonic() < deadline:
            time.sleep(0.1)  # the lifeline's command removes the bed after stopping its server
        assert not directory.exists(), "the killed run's PostgreSQL bed directory was left behind"
