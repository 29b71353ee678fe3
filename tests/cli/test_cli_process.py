"""The CLI as a real process: console entry point, exit statuses, the PIN prompt on a terminal."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cli_support import converse
from sitoken.cli import exitcodes

pytestmark = pytest.mark.softhsm


def test_sim_create_list_delete(sitoken_proc) -> None:  # type: ignore[no-untyped-def]
    assert sitoken_proc("sim", "create", "proc-sim", "--so-pin-env", "SO_PIN", "--pin-env", "PIN").code == 0
    listed = sitoken_proc("sim", "list", "--json")
    assert "proc-sim" in [t["label"] for t in listed.json()]
    again = sitoken_proc("sim", "create", "proc-sim", "--so-pin-env", "SO_PIN", "--pin-env", "PIN")
    assert again.code == exitcodes.INVALID_INPUT
    assert sitoken_proc("sim", "delete", "proc-sim", "--force").code == 0
    assert "proc-sim" not in [t["label"] for t in sitoken_proc("sim", "list", "--json").json()]


def test_verify_exit_statuses_in_a_real_process(sitoken_proc, tmp_path) -> None:  # type: ignore[no-untyped-def]
    sitoken_proc("sim", "create", "proc-verify", "--so-pin-env", "SO_PIN", "--pin-env", "PIN")
    t = ("--token", "proc-verify")
    assert sitoken_proc(*t, "key", "generate", "--type", "ed25519", "--label", "k", "--pin-env", "PIN").code == 0
    doc, sig = tmp_path / "doc", tmp_path / "sig"
    doc.write_bytes(b"x" * 1000)
    assert sitoken_proc(*t, "sign", "--key", "k", "--in", str(doc), "--out", str(sig), "--pin-env", "PIN").code == 0
    assert sitoken_proc(*t, "verify", "--key", "k", "--in", str(doc), "--sig", str(sig)).code == 0
    doc.write_bytes(b"y" * 1000)
    assert sitoken_proc(*t, "verify", "--key", "k", "--in", str(doc), "--sig", str(sig)).code == 1


def test_console_script_is_installed() -> None:
    script = os.path.join(os.path.dirname(sys.executable), "sitoken")
    done = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "sitoken" in done.stdout


def test_new_pin_is_asked_twice_on_a_terminal(sitoken_proc) -> None:  # type: ignore[no-untyped-def]
    sitoken_proc("sim", "create", "proc-prompt", "--so-pin-env", "SO_PIN", "--pin-env", "PIN")
    code, screen = converse(["pin", "change", "--token", "proc-prompt"], ["user7pin3", "t3rmpin55", "t3rmpin55"])
    assert code == 0, screen
    assert "New user PIN:" in screen and "Repeat the new user PIN:" in screen
    assert "t3rmpin55" not in screen and "user7pin3" not in screen  # hidden input
    assert sitoken_proc("--token", "proc-prompt", "key", "list", "--pin-env", "T", env={"T": "t3rmpin55"}).code == 0
