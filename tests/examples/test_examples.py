"""Every script in examples/ runs as a real process against the real beds, so none of them rots.

Each run gets a store of its own (``--store`` under tmp_path); the session's SoftHSM store,
which stands for the user's own, must come out of every run unchanged. Results are checked
from outside the scripts where a tool exists: ``softhsm2-util`` for the provisioned token,
``openssl cms -verify`` for the CMS signature, the card's public key for the card signature.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from testbed.pcsc_bed import PcscBed

from bed_support import require
from sitoken import Mechanism, pubkey
from sitoken._native_loader import native_status
from sitoken.pcsc.openpgp import OpenPgpCard

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))
PINS = {"EXAMPLE_SO_PIN": "ex-so-1357", "EXAMPLE_PIN": "exm4pin8"}


def run(
    script: str, *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True,
                          env={**os.environ, **PINS, **(env or {})}, timeout=timeout, check=False)


def session_store_tokens() -> str:
    """The session store's slots as softhsm2-util sees them (the 'user's own store')."""
    done = subprocess.run(["softhsm2-util", "--show-slots"], capture_output=True, text=True, timeout=60,
                          env={**os.environ}, check=False)
    return "\n".join(line for line in done.stdout.splitlines() if "Label:" in line or "Serial" in line)


def test_every_example_says_what_it_shows_and_how_to_run_it() -> None:
    assert set(SCRIPTS) == {"batch_sign.py", "provision_token.py", "sign_cms.py", "watch_and_sign.py"}
    for name in SCRIPTS:
        text = (EXAMPLES / name).read_text()
        docstring = text.split('"""')[1]
        assert "What it shows" in docstring and "Run it" in docstring and "python examples/" + name in docstring, name


@pytest.mark.softhsm
def test_provision_token(tmp_path: Path, softhsm_path: str) -> None:
    before = session_store_tokens()
    done = run("provision_token.py", "--store", str(tmp_path), "--label", "ex-provisioned")
    assert done.returncode == 0, done.stderr
    assert "certificate installed: CN=Example Holder" in done.stdout and done.stdout.endswith("provisioned\n")
    conf = tmp_path / "softhsm" / "softhsm2.conf"
    slots = subprocess.run(["softhsm2-util", "--show-slots"], capture_output=True, text=True, timeout=60,
                           env={**os.environ, "SOFTHSM2_CONF": str(conf)}, check=True).stdout
    assert re.search(r"Label:\s+ex-provisioned\b", slots), slots
    assert (tmp_path / "ca" / "root.pem").is_file()
    assert session_store_tokens() == before, "the example touched the session's own store"


@pytest.mark.softhsm
def test_sign_cms_is_accepted_by_openssl(tmp_path: Path, softhsm_path: str) -> None:
    require_openssl()
    document = tmp_path / "contract.txt"
    document.write_bytes("社保 contract, 2026\n".encode())
    done = run("sign_cms.py", "--in", str(document), "--out", str(tmp_path / "contract.p7s"),
               "--ca-out", str(tmp_path / "ca"))
    assert done.returncode == 0, done.stderr
    assert "verified: signer CN=CMS Example" in done.stdout
    check = subprocess.run(
        ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(tmp_path / "contract.p7s"),
         "-content", str(document), "-CAfile", str(tmp_path / "ca" / "root.pem"), "-purpose", "any",
         "-out", os.devnull], capture_output=True, text=True, timeout=60, check=False)
    assert check.returncode == 0, check.stderr
    assert "Verification successful" in check.stderr


def require_openssl() -> None:
    require(shutil.which("openssl") is not None, "openssl (Debian package openssl)")


@pytest.mark.softhsm
@pytest.mark.parametrize("path", ["native", "python"])
def test_batch_sign(softhsm_path: str, path: str) -> None:
    args = ["--count", "600"]
    env = {}
    if path == "native":
        require(native_status().active, f"the native extension (built by pip install): {native_status().reason}")
        args.append("--require-native")
    else:
        env["SITOKEN_NO_NATIVE"] = "1"
    done = run("batch_sign.py", *args, env=env)
    assert done.returncode == 0, done.stderr
    assert f"signing path: {'native' if path == 'native' else 'per-call python'}" in done.stdout
    assert re.search(r"signed 600 records with ec-p256 .* \d+ signatures/s", done.stdout), done.stdout
    assert "all 600 signatures verify on the host" in done.stdout


@pytest.mark.pcsc
def test_watch_and_sign_signs_with_the_card_inserted_while_it_waits(pcsc_bed: PcscBed, tmp_path: Path) -> None:
    pcsc_bed.remove_card(0)
    env = {**os.environ, "CARD_PIN": "123456", "CARD_ADMIN_PIN": "12345678"}
    signature_file = tmp_path / "signature.bin"
    document = tmp_path / "document.txt"
    document.write_bytes(b"signed on insertion\n")
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "watch_and_sign.py"), "--timeout", "60", "--reader", "PCD 00 00",
         "--admin-pin-env", "CARD_ADMIN_PIN", "--in", str(document), "--out", str(signature_file)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert proc.stdout is not None
        first = _readline(proc, 30)
        assert first.startswith("waiting up to 60 s"), first
        time.sleep(0.3)  # the script is inside watch() now; the card arrives while it waits
        image = pcsc_bed.insert_card(0)
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, err
    assert "card inserted in 'Virtual PCD 00 00'" in out and "verified on the host" in out, out
    with OpenPgpCard.open(pcsc_bed.reader_name(0)) as card:
        spki = card.public_key_der("sig")
    assert pubkey.verify_host(spki, document.read_bytes(), signature_file.read_bytes(), Mechanism.RSA_PKCS_SHA256)
    pcsc_bed.remove_card(0)
    assert image.exists()


@pytest.mark.pcsc
def test_watch_and_sign_gives_up_after_its_timeout(pcsc_bed: PcscBed) -> None:
    pcsc_bed.remove_card(0)
    done = run("watch_and_sign.py", "--timeout", "1", env={"CARD_PIN": "123456"}, timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "no usable card within 1 s" in done.stderr


def _readline(proc: subprocess.Popen[str], timeout: float) -> str:
    """The child's first stdout line, waiting at most ``timeout`` seconds."""
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline() if proc.stdout else ""))
    reader.start()
    reader.join(timeout)
    assert line, f"no output from the example within {timeout} s"
    return line[0]
