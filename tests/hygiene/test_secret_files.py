"""Files that hold secrets are owner-only; a PIN file others can read or write is refused.

Checked by mode bits (this suite runs as root, which reads anything anyway, so the bits are
what a normal user's installation gets): the local CA's private keys and its directories, the
simulated store's directory, configuration and token directory.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from hygiene_support import USER_PIN, leaks

from sitoken.certs import LocalCA
from sitoken.cli import cli
from sitoken.pkcs11 import Pkcs11Token
from sitoken.pkcs11.softhsm import SimStore

OTHERS = stat.S_IRWXG | stat.S_IRWXO


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_local_ca_keys_are_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)  # a typical umask: files would be 0644 unless sitoken says otherwise
    try:
        ca = LocalCA.init(tmp_path / "ca")
    finally:
        os.umask(old)
    keys = sorted(p.name for p in ca.directory.glob("*.key"))
    assert keys == ["intermediate.key", "root.key"]
    assert {name: _mode(ca.directory / name) for name in keys} == {name: 0o600 for name in keys}
    assert _mode(ca.directory) & OTHERS == 0


def test_local_ca_from_the_cli_is_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        done = CliRunner().invoke(cli, ["ca", "init", str(tmp_path / "cli-ca")])
    finally:
        os.umask(old)
    assert done.exit_code == 0, done.output
    for key in (tmp_path / "cli-ca").glob("*.key"):
        assert _mode(key) == 0o600, key
    assert _mode(tmp_path / "cli-ca") & OTHERS == 0


def test_simulated_store_is_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        store = SimStore(tmp_path / "store").ensure()
    finally:
        os.umask(old)
    assert _mode(store.root) == 0o700
    assert _mode(store.tokens) == 0o700
    assert _mode(store.conf) == 0o600


@pytest.mark.softhsm
@pytest.mark.parametrize(
    ("mode", "refused"),
    [(0o644, "readable"), (0o640, "readable"), (0o604, "readable"), (0o620, "writable or executable"),
     (0o601, "writable or executable"), (0o600, None)],
)
def test_pin_file_open_to_others_is_refused(
    tmp_path: Path, fresh_token: Pkcs11Token, mode: int, refused: str | None
) -> None:
    """As OpenSSH refuses an unprotected key: not read, not sent, exit 7 with the reason."""
    pin_file = tmp_path / "pin.txt"
    pin_file.write_text(USER_PIN + "\n")
    pin_file.chmod(mode)
    # The file holds a PIN this token refuses: read (0600), it is sent and fails with exit 4.
    done = CliRunner().invoke(cli, ["sign", "--token", fresh_token.label, "--key", "k", "--in", "/proc/version",
                                    "--out", str(tmp_path / "sig"), "--pin-file", str(pin_file), "--json"])
    if refused is None:
        assert done.exit_code == 4, done.stderr
    else:
        assert done.exit_code == 7, done.stderr
        assert f"{pin_file} (holding the user PIN) is {refused} by others (mode {mode:04o}): refused" in done.stderr
        assert '"error": "unsafe-file"' in done.stdout
    assert not (tmp_path / "sig").exists()
    assert leaks(done.output) == [] and leaks(done.stderr) == []
