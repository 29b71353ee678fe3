"""The local demo/QA CA: files and permissions, issuance profiles, openssl path validation."""

from __future__ import annotations

import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from certs_helpers import SUBJECT, openssl, shared_ca, signer, write_pem
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from sitoken.certs import LocalCA, build_csr, text_extension
from sitoken.errors import InvalidInput
from sitoken.token import KeyType

_DER, _PEM = Encoding.DER, Encoding.PEM


def _csr(key_type: KeyType = KeyType.EC_P256, **kwargs: object) -> bytes:
    return build_csr(signer(key_type), SUBJECT, **kwargs)  # type: ignore[arg-type]


def test_init_writes_keys_0600_and_certificates(tmp_path: Path) -> None:
    ca = LocalCA.init(tmp_path / "ca", name="测试 CA")
    for key in ("root.key", "intermediate.key"):
        assert stat.S_IMODE((tmp_path / "ca" / key).stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "ca").stat().st_mode) == 0o700
    root = x509.load_pem_x509_certificate((tmp_path / "ca" / "root.pem").read_bytes())
    inter = x509.load_pem_x509_certificate((tmp_path / "ca" / "intermediate.pem").read_bytes())
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 1
    assert inter.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    inter.verify_directly_issued_by(root)
    assert ca.chain == (inter.public_bytes(_DER), root.public_bytes(_DER))
    assert "测试 CA" in root.subject.rfc4514_string()


def test_init_refuses_an_existing_ca_and_open_refuses_an_empty_directory(tmp_path: Path) -> None:
    LocalCA.init(tmp_path / "ca")
    with pytest.raises(InvalidInput, match="already holds"):
        LocalCA.init(tmp_path / "ca")
    with pytest.raises(InvalidInput, match="no local CA"):
        LocalCA.open(tmp_path / "empty")


def test_open_detects_a_key_that_does_not_belong(tmp_path: Path) -> None:
    LocalCA.init(tmp_path / "ca")
    (tmp_path / "ca" / "intermediate.key").chmod(0o600)
    (tmp_path / "ca" / "intermediate.key").write_bytes(signer(KeyType.EC_P256, 3).to_pem())
    with pytest.raises(InvalidInput, match="is not the key"):
        LocalCA.open(tmp_path / "ca")


@pytest.mark.parametrize("key_type", [KeyType.EC_P256, KeyType.EC_P384, KeyType.RSA2048,
                                      KeyType.ED25519])
def test_openssl_verifies_issued_leaves(tmp_path: Path, key_type: KeyType) -> None:
    ca = shared_ca(key_type)
    leaf, chain = ca.issue(_csr(KeyType.RSA2048 if key_type is KeyType.EC_P384 else key_type))
    root = write_pem(tmp_path / "root.pem", chain[-1:])
    inter = write_pem(tmp_path / "inter.pem", chain[:1])
    leaf_pem = write_pem(tmp_path / "leaf.pem", [leaf])
    result = openssl("verify", "-CAfile", str(root), "-untrusted", str(inter), str(leaf_pem))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("OK")


def test_leaf_copies_subject_sans_and_identity_extension_with_profile_usages() -> None:
    ca = shared_ca()
    leaf_der, chain = ca.issue(_csr(
        san=["email:zs@example.cn"],
        extra_extensions=[text_extension("1.2.156.10260.4.1.1", "110101199003071234"),
                          text_extension("1.2.3.4.5", "not copied")],
    ))
    leaf = x509.load_der_x509_certificate(leaf_der)
    assert leaf.subject.rfc4514_string() == SUBJECT
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.RFC822Name) == ["zs@example.cn"]
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and usage.value.content_commitment
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION}
    oids = {e.oid.dotted_string for e in leaf.extensions}
    assert "1.2.156.10260.4.1.1" in oids and "1.2.3.4.5" not in oids
    issuer = x509.load_der_x509_certificate(chain[0])
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False


def test_serials_increase_and_leaves_are_kept_in_issued(tmp_path: Path) -> None:
    ca = LocalCA.init(tmp_path / "ca")
    serials = [x509.load_der_x509_certificate(ca.issue(_csr()).certificate).serial_number
               for _ in range(4)]
    assert serials == sorted(serials) and len(set(serials)) == 4
    assert {p.stem for p in (tmp_path / "ca" / "issued").iterdir()} == {f"{s:x}" for s in serials}
    again = LocalCA.open(tmp_path / "ca")
    newer = x509.load_der_x509_certificate(again.issue(_csr()).certificate)
    assert newer.serial_number > serials[-1]


def test_tampered_or_garbage_requests_are_refused() -> None:
    csr = bytearray(_csr())
    csr[-5] ^= 0x01  # inside the signature
    with pytest.raises(InvalidInput, match=r"does not verify|expected a certificate request"):
        shared_ca().issue(bytes(csr))
    with pytest.raises(InvalidInput, match="expected a certificate request, but the file is DER data of another kind"):
        shared_ca().issue(b"\x30\x03\x02\x01\x00")


def test_pem_requests_are_accepted() -> None:
    der = _csr()
    pem = x509.load_der_x509_csr(der).public_bytes(_PEM)
    leaf, _ = shared_ca().issue(pem)
    assert x509.load_der_x509_certificate(leaf).subject.rfc4514_string() == SUBJECT


def test_profiles() -> None:
    with pytest.raises(InvalidInput, match="unknown profile"):
        shared_ca().issue(_csr(), profile="vip")
    with pytest.raises(InvalidInput, match="needs a dns"):
        shared_ca().issue(_csr(), profile="server")
    leaf, _ = shared_ca().issue(_csr(KeyType.RSA2048, san=["dns:si.example.cn"]), profile="server")
    cert = x509.load_der_x509_certificate(leaf)
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_encipherment and not usage.content_commitment
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH]


def test_validity_never_outlives_the_issuer() -> None:
    ca = shared_ca()
    now = datetime.now(timezone.utc)
    leaf = x509.load_der_x509_certificate(ca.issue(_csr(), days=100_000, now=now).certificate)
    assert leaf.not_valid_after_utc == ca.issuer.not_valid_after_utc
    short = x509.load_der_x509_certificate(ca.issue(_csr(), days=365, now=now).certificate)
    assert short.not_valid_after_utc == (now + timedelta(days=365)).replace(microsecond=0)
    assert short.not_valid_before_utc < now


def test_ca_without_intermediate_issues_from_the_root(tmp_path: Path) -> None:
    ca = LocalCA.init(tmp_path / "ca", with_intermediate=False)
    leaf, chain = ca.issue(_csr())
    assert len(chain) == 1 and not (tmp_path / "ca" / "intermediate.pem").exists()
    x509.load_der_x509_certificate(leaf).verify_directly_issued_by(
        x509.load_der_x509_certificate(chain[0]))
