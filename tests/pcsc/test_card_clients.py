"""Other card clients find the certificate sitoken stored where the OpenPGP card spec puts it.

A version 3 card keeps one certificate per key (DO 7F21, occurrences AUT, DEC, SIG). GnuPG's
scdaemon and OpenSC read the card themselves, through the bed's private pcscd.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote_to_bytes

import pytest
from testbed.pcsc_bed import OpenScBed, PcscBed

from bed_support import require
from pcsc_support import FACTORY_ADMIN_PIN, FACTORY_PIN
from sitoken.certs import LocalCA, build_csr
from sitoken.certs.ontoken import TokenSigner
from sitoken.pcsc.openpgp import OpenPgpCard
from sitoken.pin import Pin
from sitoken.token import KeyType


@pytest.fixture
def holder_certificate(openpgp: OpenPgpCard, tmp_path: Path) -> bytes:
    """A card provisioned the way the counter does it: sig key, then its certificate."""
    with Pin(FACTORY_ADMIN_PIN) as admin:
        openpgp.login_admin(admin)
    openpgp.generate_key(KeyType.RSA2048, "sig")
    with Pin(FACTORY_PIN) as pin:
        openpgp.login(pin)
    leaf, _ = LocalCA.init(tmp_path / "ca").issue(build_csr(TokenSigner(openpgp, "sig"), "CN=Holder,C=CN"), days=30)
    with Pin(FACTORY_ADMIN_PIN) as admin:
        openpgp.login_admin(admin)
    openpgp.import_certificate(leaf, key_id=b"\x01")
    openpgp.close()  # the card is the other client's now
    return leaf


@pytest.fixture
def gnupg(pcsc_bed: PcscBed) -> Iterator[dict[str, str]]:
    """An environment for gpg-connect-agent: a private GNUPGHOME, scdaemon on the bed's pcscd."""
    require(shutil.which("gpg-connect-agent") is not None and Path("/usr/lib/gnupg/scdaemon").exists(),
            "GnuPG's scdaemon (apt packages gnupg, scdaemon)")
    home = Path(tempfile.mkdtemp(prefix="sitoken-gpg-", dir="/tmp"))  # agent sockets need a short path
    home.chmod(0o700)
    # PC/SC, not scdaemon's own USB CCID driver; libpcsclite finds the bed through the environment.
    (home / "scdaemon.conf").write_text("disable-ccid\n")
    env = {**os.environ, **pcsc_bed.env, "GNUPGHOME": str(home)}
    yield env
    subprocess.run(["gpgconf", "--kill", "all"], env=env, capture_output=True, timeout=30, check=False)
    shutil.rmtree(home, ignore_errors=True)


def _scd(env: dict[str, str], *commands: str) -> list[bytes]:
    """Each command's answer: its data lines joined (Assuan percent-escapes undone), or its ERR line."""
    done = subprocess.run(["gpg-connect-agent", *commands, "/bye"], env=env,
                          capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    answers, data = [], b""
    for line in done.stdout.split(b"\n"):  # a newline inside data is escaped as %0A
        if line.startswith(b"D "):
            data += unquote_to_bytes(line[2:])
        elif line.startswith((b"OK", b"ERR")):
            answers.append(data if line.startswith(b"OK") else line)
            data = b""
    return answers


def _gnupg_version() -> tuple[int, int]:
    out = subprocess.run(["/usr/lib/gnupg/scdaemon", "--version"], capture_output=True, text=True,
                         timeout=30, check=False).stdout
    match = re.search(r"(\d+)\.(\d+)", out)
    assert match, out
    return int(match[1]), int(match[2])


def test_gnupg_does_not_see_it_under_the_authentication_key(holder_certificate: bytes,
                                                           gnupg: dict[str, str]) -> None:
    serial, auth, sig = _scd(gnupg, "SCD SERIALNO", "SCD READCERT OPENPGP.3", "SCD READCERT OPENPGP.1")
    assert serial == b""  # OK: scdaemon found the card through the bed's pcscd
    # Before: the certificate sat in the first occurrence, which GnuPG reads as OPENPGP.3 (AUT).
    assert auth.startswith(b"ERR") and b"Not found" in auth
    if _gnupg_version() >= (2, 3):
        assert sig == holder_certificate  # SELECT DATA occurrence 2, as sitoken wrote it
    else:
        # GnuPG 2.2 (Debian 12) reads only the first certificate; it answers OPENPGP.1 without
        # asking the card. Newer GnuPG takes the branch above.
        assert b"Invalid ID" in sig


def test_opensc_lists_it_with_the_signature_key(holder_certificate: bytes, opensc: OpenScBed) -> None:
    from cryptography import x509

    subject = x509.load_der_x509_certificate(holder_certificate).subject.rfc4514_string()
    listing = subprocess.run(
        ["pkcs11-tool", "--module", str(opensc.module), "--token-label", opensc.sign_token_label, "-O"],
        env={**os.environ, **opensc.env}, capture_output=True, text=True, timeout=60, check=False,
    )
    assert listing.returncode == 0, listing.stderr
    certs = listing.stdout.split("Certificate Object")[1:]
    assert len(certs) == 1, listing.stdout
    # OpenSC names the occurrences by key: ID 01 "SIG certificate" is the third.
    assert "SIG certificate" in certs[0] and re.search(r"ID:\s+01\b", certs[0]), certs[0]
    assert "CN=Holder" in certs[0] and subject == "CN=Holder,C=CN"
