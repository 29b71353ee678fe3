"""CMS signatures made by NSS (`cmsutil -S` on a real NSS database) verify with sitoken."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from bed_support import require
from sitoken.certs import load_certificates
from sitoken.cli import cli
from sitoken.errors import SignatureInvalid
from sitoken.signing.cms import verify_cms

DATA = "合同 contract 2026-12\n".encode()
MS_ENCRYPTION_KEY_PREFERENCE = "1.3.6.1.4.1.311.16.4"


def _nss(tool: str, *args: str, cwd: Path, stdin: str = "") -> None:
    done = subprocess.run([tool, *args], cwd=cwd, input=stdin, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module", params=["rsa", "ec"])
def nss_signer(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An NSS database with a self-signed signing certificate (nickname ``signer``)."""
    require(shutil.which("cmsutil") is not None and shutil.which("certutil") is not None,
            "NSS tools (Debian package libnss3-tools)")
    home = tmp_path_factory.mktemp(f"nss-{request.param}")
    (home / "db").mkdir()
    (home / "noise").write_bytes(bytes(range(256)))
    _nss("certutil", "-N", "-d", "sql:db", "--empty-password", cwd=home)
    key = ["-k", "rsa", "-g", "2048"] if request.param == "rsa" else ["-k", "ec", "-q", "nistp256"]
    # keyEncipherment too: cmsutil adds its S/MIME encryption-key preference attributes only
    # for a certificate that can receive encrypted mail, and those are what this test is about.
    _nss("certutil", "-S", "-x", "-n", "signer", "-s", "CN=NSS Signer,O=Interop", "-t", "CTu,CTu,CTu",
         *key, "-d", "sql:db", "-z", "noise", "-v", "12",
         "--keyUsage", "digitalSignature,keyEncipherment,certSigning", "-2", cwd=home, stdin="y\n\nn\n")
    (home / "signer.pem").write_text(subprocess.run(
        ["certutil", "-L", "-d", "sql:db", "-n", "signer", "-a"], cwd=home, capture_output=True,
        text=True, check=True).stdout)
    (home / "data.bin").write_bytes(DATA)
    # -G signing time, -P S/MIME capabilities, -Y encryption-key preference: what mail clients send.
    _nss("cmsutil", "-S", "-N", "signer", "-G", "-P", "-Y", "signer", "-T", "-d", "sql:db",
         "-i", "data.bin", "-o", "detached.p7s", cwd=home)
    _nss("cmsutil", "-S", "-N", "signer", "-d", "sql:db", "-i", "data.bin", "-o", "attached.p7s", cwd=home)
    return home


def test_nss_signature_with_attributes_asn1crypto_cannot_read_verifies(nss_signer: Path) -> None:
    trust = load_certificates((nss_signer / "signer.pem").read_bytes())
    result = verify_cms((nss_signer / "detached.p7s").read_bytes(), DATA, trust=trust)
    assert result.signer_subject == "CN=NSS Signer,O=Interop" and result.detached
    assert result.signing_time is not None
    others = {a.oid for a in result.other_attributes}
    assert MS_ENCRYPTION_KEY_PREFERENCE in others
    assert all(a.der[0] == 0x30 for a in result.other_attributes)  # each kept whole, as DER


def test_cli_verify_cms_accepts_nss_attached_signature(nss_signer: Path) -> None:
    done = CliRunner().invoke(cli, ["verify", "--json", "--cms", "--trust", str(nss_signer / "signer.pem"),
                                    "--sig", str(nss_signer / "attached.p7s")])
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["valid"] and report["signer"] == "CN=NSS Signer,O=Interop"
    assert MS_ENCRYPTION_KEY_PREFERENCE in report["other_attributes"]


def test_a_changed_unknown_attribute_breaks_the_signature(nss_signer: Path) -> None:
    # Kept, not ignored: the bytes of an attribute sitoken does not read are still signed.
    blob = bytearray((nss_signer / "detached.p7s").read_bytes())
    oid_der = bytes.fromhex("06092b0601040182371004")  # 1.3.6.1.4.1.311.16.4
    at = blob.index(oid_der) + len(oid_der) + 12  # inside the attribute's value
    blob[at] ^= 0x01
    trust = load_certificates((nss_signer / "signer.pem").read_bytes())
    with pytest.raises(SignatureInvalid):
        verify_cms(bytes(blob), DATA, trust=trust)
