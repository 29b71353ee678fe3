"""PINs given to the CLI never reach argv (as ``ps`` shows it), log output, stdout or --json.

Each command runs as a real process with its PINs from a variable, a file or stdin. A sampler
thread reads ``/proc/*/cmdline`` of the CLI and everything it starts (such as
``softhsm2-util``) as fast as it can while the command runs. The commands run
with the root logger at DEBUG (python-pkcs11, sitoken and the ``sitoken.apdu`` traffic log on
the card), and stdout and stderr are searched for every PIN in text, hex and UTF-16 forms.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from hygiene_support import CARD_WRONG_PIN, NEW_PIN, SO_PIN, USER_PIN, WEAK_PIN, WRONG_PIN, leaks
from testbed.pcsc_bed import PcscBed

# The CLI's own entry point, with every logger at DEBUG on stderr.
DEBUG_MAIN = (
    "import logging, sys; logging.basicConfig(level=logging.DEBUG, stream=sys.stderr);"
    "from sitoken.cli import main; sys.exit(main(sys.argv[1:]))"
)
PIN_VARS = {"U_PIN": USER_PIN, "S_PIN": SO_PIN, "N_PIN": NEW_PIN, "W_PIN": WRONG_PIN, "WEAK": WEAK_PIN}


@dataclass
class Run:
    code: int
    out: str
    err: str
    samples: int  # /proc scans made while the command ran
    seen_child: bool  # the sampler saw the command's own cmdline at least once
    argv_leaks: list[str]


def _scan_cmdlines(found: list[str], own: list[bool], pid: int) -> None:
    """One look at every process; the argv of the command and its descendants is searched.

    Other processes are left out: on a shared machine another run's command line (an SM2
    ``distid:1234567812345678``) would otherwise read as a leaked ``123456``.
    """
    parents: dict[int, int] = {}
    cmdlines: dict[int, bytes] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
            with open(f"/proc/{entry.name}/cmdline", "rb") as fh:
                cmdlines[int(entry.name)] = fh.read()
        except OSError:
            continue  # the process ended between listing and reading
        parents[int(entry.name)] = int(stat[stat.rindex(b")") + 2 :].split()[1])
    for candidate, cmdline in cmdlines.items():
        if not _descends_from(candidate, pid, parents):
            continue
        if candidate == pid and cmdline:
            own[0] = True
        found.extend(p for p in leaks(cmdline) if p not in found)


def _descends_from(candidate: int, root: int, parents: dict[int, int]) -> bool:
    seen = 0
    while candidate > 1 and seen < 64:
        if candidate == root:
            return True
        candidate, seen = parents.get(candidate, 0), seen + 1
    return False


def sitoken(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> Run:
    """Run the CLI with DEBUG logging while sampling every process's argv."""
    proc = subprocess.Popen(
        [sys.executable, "-c", DEBUG_MAIN, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env={**os.environ, **PIN_VARS, **(env or {})},
    )
    found: list[str] = []
    own = [False]
    samples = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            _scan_cmdlines(found, own, proc.pid)
            samples[0] += 1

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        out, err = proc.communicate(stdin, timeout=120)
    finally:
        done.set()
        sampler.join(30)
        if proc.poll() is None:
            proc.kill()
    return Run(proc.returncode, out, err, samples[0], own[0], found)


def _clean(run: Run, *, log_marker: str | None = None) -> None:
    assert run.samples > 0 and run.seen_child, "the argv sampler never saw the command"
    assert run.argv_leaks == [], f"PIN on a command line: {run.argv_leaks}"
    assert leaks(run.out) == [], f"PIN in stdout: {leaks(run.out)}"
    assert leaks(run.err) == [], f"PIN in stderr/log: {leaks(run.err)}"
    if log_marker is not None:
        assert log_marker in run.err, "the DEBUG log was not captured: the check would prove nothing"


@pytest.mark.softhsm
def test_pins_stay_out_of_argv_logs_and_json_on_softhsm(tmp_path: Path, softhsm_path: str) -> None:
    label = "hyg-cli"
    pin_file = tmp_path / "pin"
    pin_file.write_text(USER_PIN + "\n")
    pin_file.chmod(0o600)
    runs = {
        "sim create": sitoken("sim", "create", label, "--so-pin-env", "S_PIN", "--pin-env", "U_PIN"),
        "keygen (pin file)": sitoken("key", "generate", "--token", label, "--type", "ec-p256", "--label", "k",
                                     "--pin-file", str(pin_file), "--json"),
        "sign (stdin)": sitoken("sign", "--token", label, "--key", "k", "--in", "/proc/version",
                                "--out", str(tmp_path / "sig"), "--pin-file", "-", stdin=USER_PIN + "\n"),
        "wrong PIN --json": sitoken("sign", "--token", label, "--key", "k", "--in", "/proc/version",
                                    "--out", str(tmp_path / "sig2"), "--pin-env", "W_PIN", "--json"),
        "weak new PIN --json": sitoken("pin", "change", "--token", label, "--pin-env", "U_PIN",
                                       "--new-pin-env", "WEAK", "--json"),
        "pin change (stdin, two lines)": sitoken("pin", "change", "--token", label, "--pin-file", "-",
                                                 "--new-pin-file", "-", stdin=f"{USER_PIN}\n{NEW_PIN}\n"),
        "pin reset": sitoken("pin", "reset", "--token", label, "--so-pin-env", "S_PIN", "--new-pin-env", "U_PIN"),
        "pin status --json": sitoken("pin", "status", "--token", label, "--json"),
        "sim delete": sitoken("sim", "delete", label, "--force"),
    }
    codes = {name: run.code for name, run in runs.items()}
    assert codes == {"sim create": 0, "keygen (pin file)": 0, "sign (stdin)": 0, "wrong PIN --json": 4,
                     "weak new PIN --json": 7, "pin change (stdin, two lines)": 0, "pin reset": 0,
                     "pin status --json": 0, "sim delete": 0}, {n: r.err[-300:] for n, r in runs.items()}
    for name, run in runs.items():
        _clean(run)
        assert run.err or run.out, name
    # The error documents of --json came out, and carry no PIN (checked above).
    assert runs["wrong PIN --json"].out and '"pin-incorrect"' in runs["wrong PIN --json"].out
    assert '"pin-policy"' in runs["weak new PIN --json"].out


@pytest.mark.pcsc
def test_card_pins_stay_out_of_argv_and_the_apdu_traffic_log(pcsc_bed: PcscBed, card: Path, tmp_path: Path) -> None:
    card_env = {"C_PIN": "123456", "C_ADMIN": "12345678", "C_BAD": CARD_WRONG_PIN, "C_NEW": NEW_PIN}
    token = ["--token", "pcsc:0"]
    runs = {
        "keygen (admin PIN)": sitoken("key", "generate", *token, "--type", "rsa2048", "--label", "sig",
                                      "--so-pin-env", "C_ADMIN", env=card_env),
        "sign": sitoken("sign", *token, "--key", "sig", "--in", "/proc/version", "--out", str(tmp_path / "s"),
                        "--pin-env", "C_PIN", env=card_env),
        "wrong PIN --json": sitoken("sign", *token, "--key", "sig", "--in", "/proc/version",
                                    "--out", str(tmp_path / "s2"), "--pin-env", "C_BAD", "--json", env=card_env),
        "pin change": sitoken("pin", "change", *token, "--pin-env", "C_PIN", "--new-pin-env", "C_NEW", env=card_env),
        "pin status --json": sitoken("pin", "status", *token, "--json", env=card_env),
    }
    codes = {name: run.code for name, run in runs.items()}
    assert codes == {"keygen (admin PIN)": 0, "sign": 0, "wrong PIN --json": 4, "pin change": 0,
                     "pin status --json": 0}, {n: r.err[-300:] for n, r in runs.items()}
    for name, run in runs.items():
        _clean(run, log_marker="sitoken.apdu")
        assert "bytes redacted" in run.err or name == "pin status --json", name


@pytest.mark.pcsc
def test_apdu_command_output_redacts_pin_data(pcsc_bed: PcscBed, card: Path) -> None:
    """`sitoken apdu` with a VERIFY: the PIN is in its argv by design, but never in what it prints."""
    verify = "0020008106" + b"123456".hex()
    run = sitoken("apdu", "00A4040006D27600012401", verify, "--reader", "0", "--json")
    assert run.code == 0, run.err
    assert leaks(run.out, ["123456"]) == [] and leaks(run.err, ["123456"]) == []
    assert "6 bytes redacted" in run.out and "sitoken.apdu" in run.err
