"""Certificate commands end to end: csr -> local CA -> cert import -> list/status/export."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from sitoken.cli import exitcodes

pytestmark = pytest.mark.softhsm


def _issued(cli, token: str, tmp_path: Path, key: str = "sign", days: int = 365) -> Path:  # type: ignore[no-untyped-def]
    t = ("--token", token)
    assert cli("key", "generate", *t, "--type", "ec-p256", "--label", key, "--pin-env", "PIN").code == 0
    req = tmp_path / f"{key}.csr"
    done = cli("csr", *t, "--key", key, "--subject", "CN=张三,OU=Individual-1,O=某社保中心,C=CN",
               "--san", "email:zhang@example.cn", "--out", str(req), "--pin-env", "PIN")
    assert done.code == 0, done.err
    check = subprocess.run(["openssl", "req", "-verify", "-in", req, "-noout"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    ca = tmp_path / "ca"
    if not ca.exists():
        assert cli("ca", "init", str(ca)).code == 0
    out = tmp_path / f"{key}.pem"
    assert cli("ca", "issue", str(ca), "--csr", str(req), "--days", str(days), "--out", str(out)).code == 0
    return out


def test_request_issue_import_list_export(cli, sim_token, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    t = ("--token", sim_token)
    issued = _issued(cli, sim_token, tmp_path)
    imported = cli("cert", "import", *t, str(issued), "--pin-env", "PIN", "--json")
    assert imported.code == 0, imported.err
    doc = imported.json()
    assert doc["certificate"]["key"] == "sign" and len(doc["added_chain"]) == 2
    listed = cli("cert", "list", *t, "--json").json()
    assert sorted(c["authority"] for c in listed) == [False, True, True]
    status = cli("cert", "status", *t, "--json").json()
    assert status[0]["status"] == "valid" and status[0]["key"] == "sign" and status[0]["days_left"] >= 364
    chain = tmp_path / "chain.pem"
    assert cli("cert", "export", *t, "--key", "sign", "--chain", "--out", str(chain)).code == 0
    assert chain.read_bytes().count(b"BEGIN CERTIFICATE") == 3
    verify = subprocess.run(["openssl", "verify", "-CAfile", tmp_path / "ca" / "root.pem", "-untrusted", chain, chain],
                            capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_renewal_due_shows_in_status(cli, sim_token, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    issued = _issued(cli, sim_token, tmp_path, days=10)
    assert cli("--token", sim_token, "cert", "import", str(issued), "--pin-env", "PIN").code == 0
    rows = [r for r in cli("cert", "status", "--all-tokens", "--json").json() if r["token"] == sim_token]
    assert rows and rows[0]["renew_due"] is True and rows[0]["status"] == "renew-due"


def test_bad_certificates_are_refused(cli, sim_token, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    t = ("--token", sim_token)
    issued = _issued(cli, sim_token, tmp_path)
    cli("key", "generate", *t, "--type", "ec-p256", "--label", "other", "--pin-env", "PIN")
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"-----BEGIN CERTIFICATE-----\n@@@\n-----END CERTIFICATE-----\n")
    for args in ((str(garbage),), (str(issued), "--key", "other")):
        done = cli("cert", "import", *t, *args, "--pin-env", "PIN", "--json")
        assert done.code == exitcodes.INVALID_INPUT and done.json()["error"] == "invalid-input"
    assert cli("cert", "list", *t, "--json").json() == []


def test_self_signed_certificate(cli, sim_token, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    t = ("--token", sim_token)
    cli("key", "generate", *t, "--type", "rsa2048", "--label", "self", "--pin-env", "PIN")
    out = tmp_path / "self.pem"
    done = cli("cert", "self-sign", *t, "--key", "self", "--subject", "CN=counter 7,C=CN", "--days", "30",
               "--out", str(out), "--pin-env", "PIN", "--json")
    assert done.code == 0 and done.json()["certificate"]["self_signed"] is True
    check = subprocess.run(["openssl", "verify", "-CAfile", out, out], capture_output=True, text=True)
    assert check.returncode == 0


def test_export_without_a_certificate_is_key_not_found(cli, sim_token) -> None:  # type: ignore[no-untyped-def]
    cli("--token", sim_token, "key", "generate", "--type", "ec-p256", "--label", "bare", "--pin-env", "PIN")
    assert cli("--token", sim_token, "cert", "export", "--key", "bare").code == exitcodes.KEY_NOT_FOUND


def test_cms_sign_and_verify(cli, sim_token, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    t = ("--token", sim_token)
    issued = _issued(cli, sim_token, tmp_path)
    assert cli("cert", "import", *t, str(issued), "--pin-env", "PIN").code == 0
    doc, p7s = tmp_path / "doc.txt", tmp_path / "doc.p7s"
    doc.write_text("参保缴费记录 2026-11\n")
    signed = cli("sign", *t, "--key", "sign", "--cms", "--in", str(doc), "--out", str(p7s), "--pin-env", "PIN")
    assert signed.code == 0, signed.err
    root = tmp_path / "ca" / "root.pem"
    ok = cli("verify", "--cms", "--trust", str(root), "--in", str(doc), "--sig", str(p7s), "--json")
    assert ok.code == 0 and ok.json()["valid"] is True and "张三" in ok.json()["signer"]
    assert cli("verify", *t, "--cms", "--in", str(doc), "--sig", str(p7s)).code == 0  # anchors from the token
    check = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", p7s, "-content", doc,
                            "-CAfile", root, "-purpose", "any", "-out", "/dev/null"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    doc.write_text("tampered\n")
    bad = cli("verify", "--cms", "--trust", str(root), "--in", str(doc), "--sig", str(p7s), "--json")
    assert bad.code == exitcodes.SIGNATURE_INVALID and bad.json()["valid"] is False
    attached = tmp_path / "att.p7s"
    assert cli("sign", *t, "--key", "sign", "--cms", "--attached", "--in", str(issued), "--out", str(attached),
               "--pin-env", "PIN").code == 0
    assert cli("verify", "--cms", "--trust", str(root), "--sig", str(attached)).code == 0


def test_chain_added_later_to_a_holder_certificate_imported_alone(cli, sim_token, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    t = ("--token", sim_token)
    bundle = _issued(cli, sim_token, tmp_path)
    text = bundle.read_text()
    leaf_only = tmp_path / "leaf.pem"
    leaf_only.write_text(text[: text.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")] + "\n")
    alone = cli("cert", "import", *t, str(leaf_only), "--pin-env", "PIN", "--json")
    assert alone.code == 0 and alone.json()["added_chain"] == [], alone.err
    later = cli("cert", "import", *t, str(bundle), "--pin-env", "PIN", "--json")
    assert later.code == 0, later.err
    assert later.json()["already_present"] is True and len(later.json()["added_chain"]) == 2
    assert sorted(c["authority"] for c in cli("cert", "list", *t, "--json").json()) == [False, True, True]
    again = cli("cert", "import", *t, str(bundle), "--pin-env", "PIN", "--json")
    assert again.code == exitcodes.INVALID_INPUT and "so is every CA certificate" in again.json()["message"]
