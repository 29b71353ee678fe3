"""PINs through real GnuPG pinentries (Debian's pinentry-tty and pinentry-curses) on a pseudo-terminal."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from bed_support import require
from cli_support import converse, on_a_terminal
from sitoken.cli import exitcodes

pytestmark = pytest.mark.softhsm


@pytest.fixture()
def pinentry() -> str:
    require(shutil.which("pinentry-tty") is not None, "pinentry-tty (Debian package pinentry-tty)")
    return "pinentry-tty"


def test_sign_asks_the_pin_in_a_pinentry_dialog(sitoken_proc, pinentry: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    t = ("--token", "pe-sign")
    assert sitoken_proc("sim", "create", "pe-sign", "--so-pin-env", "SO_PIN", "--pin-env", "PIN").code == 0
    assert sitoken_proc(*t, "key", "generate", "--type", "ec-p256", "--label", "k", "--pin-env", "PIN").code == 0
    (tmp_path / "doc").write_bytes(b"signed through pinentry")
    code, screen = converse(["--pinentry", pinentry, *t, "sign", "--key", "k", "--in", str(tmp_path / "doc"),
                             "--out", str(tmp_path / "sig")], ["user7pin3"])
    assert code == 0, screen
    assert "User PIN" in screen and "user7pin3" not in screen  # pinentry-tty does not echo
    checked = sitoken_proc(*t, "verify", "--key", "k", "--in", str(tmp_path / "doc"), "--sig", str(tmp_path / "sig"))
    assert checked.code == 0


def test_new_pin_in_pinentry_is_checked_at_the_first_entry(sitoken_proc, pinentry: str) -> None:  # type: ignore[no-untyped-def]
    assert sitoken_proc("sim", "create", "pe-change", "--so-pin-env", "SO_PIN", "--pin-env", "PIN").code == 0
    # current PIN, a weak new PIN (refused at once, never asked twice), then a good one twice.
    code, screen = converse(["--pinentry", pinentry, "--token", "pe-change", "pin", "change"],
                            ["user7pin3", "123456", "p1nentry7x", "p1nentry7x"])
    assert code == 0, screen
    assert screen.index("does not meet the policy") < screen.index("Repeat the new user PIN")
    assert sitoken_proc("--token", "pe-change", "key", "list", "--pin-env", "T", env={"T": "p1nentry7x"}).code == 0


def test_a_missing_pinentry_program_is_named(sitoken_proc) -> None:  # type: ignore[no-untyped-def]
    assert sitoken_proc("sim", "create", "pe-none", "--so-pin-env", "SO_PIN", "--pin-env", "PIN").code == 0
    code, screen = converse(["--pinentry", "/nonexistent/pinentry", "--token", "pe-none", "pin", "change"], [])
    assert code == exitcodes.INVALID_INPUT and "cannot run the pinentry program /nonexistent/pinentry" in screen


def test_sign_asks_the_pin_in_a_curses_dialog(sitoken_proc, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    require(shutil.which("pinentry-curses") is not None, "pinentry-curses (Debian package pinentry-curses)")
    t = ("--token", "pe-curses")
    assert sitoken_proc("sim", "create", "pe-curses", "--so-pin-env", "SO_PIN", "--pin-env", "PIN").code == 0
    assert sitoken_proc(*t, "key", "generate", "--type", "ec-p256", "--label", "k", "--pin-env", "PIN").code == 0
    doc, sig = tmp_path / "doc", tmp_path / "sig"
    doc.write_bytes(b"signed through a curses dialog")
    # Typed once the dialog is drawn (its field, OK and Cancel); Enter is a carriage return to curses.
    code, screen, _ = on_a_terminal(["--pinentry", "pinentry-curses", *t, "sign", "--key", "k", "--in", str(doc),
                                     "--out", str(sig)], {**os.environ, "TERM": "xterm"}, b"<Cancel>",
                                    lambda _, terminal: os.write(terminal, b"user7pin3\r"), timeout=60)
    assert code == 0, screen[-400:]
    assert b"User PIN" in screen and b"sitoken" in screen and b"user7pin3" not in screen  # drawn as stars
    assert sitoken_proc(*t, "verify", "--key", "k", "--in", str(doc), "--sig", str(sig)).code == 0
