"""PINs from a file descriptor (``--pin-fd N``), for scripts: one line per PIN, no wait for EOF.

Real processes with a pipe passed as a descriptor: the writer keeps its end open after the
line, as a script holding a secret would, and the command must not wait for EOF.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from sitoken.pkcs11 import Pkcs11Token

pytestmark = pytest.mark.softhsm

USER_PIN = "user7pin3"
NEW_PIN = "n3wpin88x"


def _with_fd(args: list[str], lines: str) -> subprocess.CompletedProcess[str]:
    """Run sitoken with ``FD`` in ``args`` replaced by a pipe's read end holding ``lines``."""
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, lines.encode())
        # The write end stays open while the command runs: reading must stop at the newline.
        argv = [str(read_end) if a == "FD" else a for a in args]
        return subprocess.run([sys.executable, "-m", "sitoken", *argv], pass_fds=(read_end,), capture_output=True,
                              text=True, timeout=60, check=False)
    finally:
        os.close(read_end)
        os.close(write_end)


def test_pin_fd_logs_in(fresh_token: Pkcs11Token) -> None:
    listed = _with_fd(["key", "list", "--token", fresh_token.label, "--pin-fd", "FD", "--json"], USER_PIN + "\n")
    assert listed.returncode == 0, listed.stderr


def test_two_pins_on_one_descriptor_in_the_order_asked(fresh_token: Pkcs11Token) -> None:
    done = _with_fd(["pin", "change", "--token", fresh_token.label, "--pin-fd", "FD", "--new-pin-fd", "FD"],
                     f"{USER_PIN}\n{NEW_PIN}\n")
    assert done.returncode == 0, done.stderr
    # Checked by another process: this one's SoftHSM keeps the token as it loaded it.
    after = _with_fd(["key", "list", "--token", fresh_token.label, "--pin-fd", "FD"], NEW_PIN + "\n")
    assert after.returncode == 0, after.stderr


def test_a_bad_or_empty_descriptor_is_a_clear_error(fresh_token: Pkcs11Token) -> None:
    closed = subprocess.run([sys.executable, "-m", "sitoken", "key", "list", "--token", fresh_token.label,
                             "--pin-fd", "9", "--json"], capture_output=True, text=True, timeout=60, check=False)
    assert closed.returncode == 7 and "cannot read the user PIN from file descriptor 9" in closed.stderr
    read_end, write_end = os.pipe()
    os.close(write_end)
    try:
        empty = subprocess.run([sys.executable, "-m", "sitoken", "key", "list", "--token", fresh_token.label,
                                "--pin-fd", str(read_end)], pass_fds=(read_end,), capture_output=True, text=True,
                               timeout=60, check=False)
    finally:
        os.close(read_end)
    assert empty.returncode == 7 and "has no line for the user PIN" in empty.stderr
