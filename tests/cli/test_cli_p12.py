"""key import: a PKCS#12 file's key and certificates onto the token; bad files leave the token unchanged."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from sitoken.cli import exitcodes

pytestmark = pytest.mark.softhsm


def _cert(subject: str, issuer: str, key: ec.EllipticCurvePrivateKey, signer: ec.EllipticCurvePrivateKey,
          ca: bool) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    name = lambda cn: x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])  # noqa: E731
    return (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name(issuer))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(signer, hashes.SHA256()))


def _p12(path: Path, *, leaf_is_ca: bool = False) -> tuple[Path, x509.Certificate]:
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _cert("Test CA", "Test CA", ca_key, ca_key, True)
    leaf = _cert("张三", "Test CA", key, ca_key, leaf_is_ca)
    path.write_bytes(pkcs12.serialize_key_and_certificates(
        b"holder", key, leaf, [ca], serialization.BestAvailableEncryption(b"p12-pass")))
    return path, leaf


def test_pkcs12_key_and_certificates_go_onto_the_token(cli, sim_token: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    t = ("--token", sim_token)
    p12, leaf = _p12(tmp_path / "holder.p12")
    done = cli(*t, "key", "import", str(p12), "--label", "imported", "--password-env", "P12", "--pin-env", "PIN",
               "--json", env={"P12": "p12-pass"})
    assert done.code == 0, done.err
    assert done.json()["key"]["private"] is True and len(done.json()["certificate"]["added_chain"]) == 1
    listed = cli(*t, "cert", "list", "--json").json()
    assert sorted((c["authority"], c["key"]) for c in listed) == [(False, "imported"), (True, None)]
    # The imported key signs, and the certificate's public key verifies it off the token.
    (tmp_path / "doc").write_bytes(b"signed with an imported key")
    assert cli(*t, "sign", "--key", "imported", "--in", str(tmp_path / "doc"), "--out", str(tmp_path / "sig"),
               "--pin-env", "PIN").code == 0
    leaf.public_key().verify((tmp_path / "sig").read_bytes(), b"signed with an imported key",  # type: ignore[union-attr]
                             ec.ECDSA(hashes.SHA256()))


def test_bad_pkcs12_files_leave_the_token_unchanged(cli, sim_token: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    t = ("--token", sim_token)
    p12, _ = _p12(tmp_path / "holder.p12")
    wrong = cli(*t, "key", "import", str(p12), "--label", "k", "--password-env", "P12", "--pin-env", "PIN", "--json",
                env={"P12": "not-the-password"})
    assert wrong.code == exitcodes.INVALID_INPUT and "password is wrong" in wrong.json()["message"]
    ca_leaf, _ = _p12(tmp_path / "ca-leaf.p12", leaf_is_ca=True)
    refused = cli(*t, "key", "import", str(ca_leaf), "--label", "k", "--password-env", "P12", "--pin-env", "PIN",
                  env={"P12": "p12-pass"})
    assert refused.code == exitcodes.INVALID_INPUT and "CA certificate" in refused.err
    (tmp_path / "leaf.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    other = cli(*t, "key", "import", str(tmp_path / "leaf.pem"), "--label", "k", "--password-env", "P12",
                "--pin-env", "PIN", env={"P12": "p12-pass"})
    assert other.code == exitcodes.INVALID_INPUT
    assert "expected a PKCS#12 file, but the file is a certificate (PEM)" in other.err
    assert cli(*t, "key", "list", "--pin-env", "PIN", "--json").json() == []  # nothing was left behind
