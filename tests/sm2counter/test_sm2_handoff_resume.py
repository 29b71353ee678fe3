"""Dual SM2 certificates through a file hand-off (provision complete refuses mismatched files and leaves the token
as it was), and a provisioning killed at each new step (KMC, envelope, encryption certificate) resumed to one
holder with one escrowed key."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from asn1crypto import x509
from sm2counter_support import PERSON, PIN, SO, journal_rows

from sitoken.certs import build_csr, load_certificates
from sitoken.certs.sm2ca import Sm2LocalCA, Sm2SoftwareSigner, recover_escrow
from sitoken.provisioning.workflow import CRASH_ENV
from sitoken.sm2 import Sm2PrivateKey, Sm2PublicKey
from sitoken.sm2.envelope import EnvelopedKey

DISTID = "distid:1234567812345678"


def _other_holder(ca: Sm2LocalCA) -> tuple[bytes, bytes, bytes]:
    """Another holder's signature certificate, encryption certificate and envelope (the KMC's answer for them)."""
    signer = Sm2SoftwareSigner(Sm2PrivateKey.generate())
    signature = ca.issue(build_csr(signer, "CN=李四,C=CN")).certificate
    delivery = ca.issue_encryption_pair(signature)
    return signature, delivery.certificate, delivery.envelope


def _halves(counter: Any, serial: str) -> set[str]:
    """The key usages present on the token (signature, encryption), and the certificates stored."""
    keys = counter("key", "list", "--module", "skf", "--token", serial, "--pin-env", "PIN", "--json")
    certs = counter("cert", "list", "--module", "skf", "--token", serial, "--json")
    assert keys.code == 0 and certs.code == 0, keys.err + certs.err
    return {k["usage"] for k in keys.json()} | {f"cert:{c['key']}" for c in certs.json()}


def test_handoff_refuses_mismatched_files_and_leaves_the_token_unchanged(tmp_path: Path, counter: Any) -> None:
    (tmp_path / "zhang.json").write_text(json.dumps(PERSON, ensure_ascii=False), encoding="utf-8")
    handoff = ["--module", "skf", "--issuer", "file", "--outbox", str(tmp_path / "out")]
    sent = counter("provision", *handoff, "--profile", "personal-sm2", "--applicant", str(tmp_path / "zhang.json"),
                   "--so-pin-env", "SO", "--holder-pin-env", "PIN", "--json")
    assert sent.code == 0 and sent.json()["state"] == "awaiting-certificate", sent.err + sent.out
    request = sent.json()["handoff"]
    verified = subprocess.run(["openssl", "req", "-in", request, "-noout", "-verify", "-vfyopt", DISTID],
                              capture_output=True, text=True, check=False)
    assert "verify OK" in verified.stdout + verified.stderr
    # The real CA/KMC's part, played by the SM2 local CA from the command line.
    files = {name: str(tmp_path / name) for name in ("sign.pem", "enc.pem", "enc.env")}
    issued = counter("ca", "issue", str(tmp_path / "ca"), "--csr", request, "--out", files["sign.pem"],
                     "--enc-out", files["enc.pem"], "--envelope-out", files["enc.env"], "--json")
    assert issued.code == 0, issued.err
    ca = Sm2LocalCA.open(tmp_path / "ca")
    other_sign, other_enc, other_envelope = _other_holder(ca)
    (tmp_path / "other-enc.pem").write_bytes(other_enc)
    (tmp_path / "other.env").write_bytes(other_envelope)
    # The right key in an envelope sealed for another holder's signature key: only the token can tell.
    enc_key = recover_escrow(tmp_path / "ca", issued.json()["escrow_ref"])
    resealed = EnvelopedKey.seal(enc_key, Sm2PublicKey(x509.Certificate.load(other_sign).public_key.dump()))
    (tmp_path / "resealed.env").write_bytes(resealed.to_der())
    serial = sent.json()["token_serial"]
    before = _halves(counter, serial)
    assert before == {"signature"}
    complete = ["provision", "complete", "--module", "skf", "--certificate", files["sign.pem"],
                "--holder-pin-env", "PIN", "--json"]
    refusals = {
        "give the encryption certificate": [],
        "not the signature certificate's holder": ["--enc-certificate", str(tmp_path / "other-enc.pem"),
                                                   "--envelope", files["enc.env"]],
        "another key than the one the encryption certificate": ["--enc-certificate", files["enc.pem"],
                                                                "--envelope", str(tmp_path / "other.env")],
        "refused the KMC's envelope": ["--enc-certificate", files["enc.pem"],
                                       "--envelope", str(tmp_path / "resealed.env")],
        "certifies the signature key": ["--enc-certificate", files["sign.pem"], "--envelope", files["enc.env"]],
    }
    for message, extra in refusals.items():
        refused = counter(*complete, *extra)
        assert refused.code == 7 and message in refused.json()["message"], (message, refused.out)
        assert _halves(counter, serial) == before
        assert journal_rows(tmp_path)[0]["state"] == "awaiting-certificate"
    done = counter(*complete, "--enc-certificate", files["enc.pem"], "--envelope", files["enc.env"],
                   "--escrow-ref", "KMC-2026-000417")
    assert done.code == 0 and done.json()["state"] == "done", done.err + done.out
    key = done.json()["key_label"]
    assert _halves(counter, serial) == {"signature", "encryption", f"cert:{key}", f"cert:{key}/enc"}
    [row] = journal_rows(tmp_path)
    assert row["enc_certificate"] == load_certificates((tmp_path / "enc.pem").read_bytes())[0]
    assert row["escrow_ref"] == done.json()["escrow_ref"] == "KMC-2026-000417"


def test_killed_at_each_dual_step_and_resumed_one_holder_one_escrow(tmp_path: Path, counter: Any) -> None:
    (tmp_path / "zhang.json").write_text(json.dumps(PERSON, ensure_ascii=False), encoding="utf-8")
    args = [sys.executable, "-m", "sitoken", "provision", "--module", "skf", "--applicant",
            str(tmp_path / "zhang.json"), "--ca", str(tmp_path / "ca"), "--so-pin-env", "SO",
            "--holder-pin-env", "PIN", "--json"]
    env = {**os.environ, "SO": SO, "PIN": PIN, "SITOKEN_STATE_DIR": str(tmp_path / "state")}
    # The KMC answered / the envelope was imported / the encryption certificate installed: none journalled.
    for n, point in enumerate(("kmc:after", "envelope:after", "install-enc:after")):
        run = subprocess.run(args + (["--resume"] if n else []), env={**env, CRASH_ENV: point},
                             capture_output=True, text=True, check=False, timeout=120)
        assert run.returncode == -signal.SIGKILL, (point, run.stderr)
    last = subprocess.run([*args, "--resume"], env=env, capture_output=True, text=True, check=False, timeout=120)
    assert last.returncode == 0, last.stderr
    result = json.loads(last.stdout)
    assert result["state"] == "done"
    [row] = journal_rows(tmp_path)
    # The KMC asked again on each rerun delivered the same escrowed pair: one key, one certificate each.
    assert [p.name for p in (tmp_path / "ca" / "kmc" / "escrow").iterdir()] == [row["escrow_ref"]]
    assert len(list((tmp_path / "ca" / "issued").glob("*.pem"))) == 2
    assert _halves(counter, result["token_serial"]) == {
        "signature", "encryption", f"cert:{result['key_label']}", f"cert:{result['key_label']}/enc"}
