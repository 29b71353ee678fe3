"""Certificates on a real SoftHSM token: CSR from token keys, chain import, status, CMS."""

from __future__ import annotations

import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from sitoken.certs import LocalCA, build_csr, build_self_signed, to_pem
from sitoken.certs.ontoken import (
    TokenSigner,
    certificate_for_key,
    chain_for,
    install_certificates,
    token_certificates,
)
from sitoken.errors import InvalidInput, KeyNotFound
from sitoken.pkcs11 import Pkcs11Token
from sitoken.signing.cms import sign_cms, verify_cms
from sitoken.token import KeyType

pytestmark = pytest.mark.softhsm

SUBJECT = "CN=张三,OU=Individual-1,O=某社保中心,C=CN"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCA:
    return LocalCA.init(tmp_path_factory.mktemp("ca") / "ca", name="sitoken Test CA")


def _issue(token: Pkcs11Token, ca: LocalCA, key: str, *, days: int = 365, now: datetime | None = None) -> bytes:
    leaf, chain = ca.issue(build_csr(TokenSigner(token, key), SUBJECT), days=days, now=now)
    return to_pem([leaf, *chain])


@pytest.mark.parametrize("key_type", [KeyType.RSA2048, KeyType.EC_P256, KeyType.EC_P384, KeyType.ED25519])
def test_openssl_accepts_csr_signed_on_the_token(token: Pkcs11Token, tmp_path: Path, key_type: KeyType) -> None:
    token.generate_key(key_type, "k")
    csr = build_csr(TokenSigner(token, "k"), SUBJECT, san=["email:zhang@example.cn", "dns:example.cn"])
    (tmp_path / "req.der").write_bytes(csr)
    done = subprocess.run(["openssl", "req", "-verify", "-in", tmp_path / "req.der", "-inform", "DER", "-noout"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_install_with_chain_binds_to_the_key(token: Pkcs11Token, ca: LocalCA, tmp_path: Path) -> None:
    token.generate_key(KeyType.EC_P256, "holder", key_id=b"\x42\x43")
    installed = install_certificates(token, _issue(token, ca, "holder"))
    assert installed.certificate.key == "holder" and installed.certificate.id == "4243"
    assert len(installed.added_chain) == 2
    certs = token_certificates(token)
    assert sum(c.authority for c in certs) == 2
    leaf = certificate_for_key(token, "holder")
    assert leaf.info.chain_complete and not leaf.info.renew_due and leaf.info.days_left >= 364
    assert chain_for(token, leaf)[1:] == list(ca.chain)
    # OpenSC's pkcs11-tool sees the certificate with the key pair's ID.
    listing = subprocess.run(
        ["pkcs11-tool", "--module", token.module.path, "--token-label", token.label, "-O", "--type", "cert"],
        capture_output=True, text=True,
    ).stdout
    assert "ID:         4243" in listing and "holder" in listing


def test_second_import_of_the_chain_adds_only_the_new_leaf(token: Pkcs11Token, ca: LocalCA) -> None:
    token.generate_key(KeyType.EC_P256, "a")
    token.generate_key(KeyType.EC_P256, "b")
    install_certificates(token, _issue(token, ca, "a"))
    second = install_certificates(token, _issue(token, ca, "b"))
    assert second.added_chain == ()
    assert len(token_certificates(token)) == 4


def _bad_inputs(token: Pkcs11Token, ca: LocalCA, other_ca: LocalCA) -> dict[str, tuple[bytes, str | None]]:
    good = _issue(token, ca, "holder")
    der = good.split(b"-----END CERTIFICATE-----")[0] + b"-----END CERTIFICATE-----\n"
    from sitoken.certs import load_certificates

    leaf = load_certificates(der)[0]
    expired = _issue(token, ca, "holder", days=30, now=datetime.now(timezone.utc) - timedelta(days=60))
    return {
        "truncated DER": (leaf[: len(leaf) // 2], None),
        "garbage PEM": (b"-----BEGIN CERTIFICATE-----\nnot base64!!\n-----END CERTIFICATE-----\n", None),
        "another key": (good, "other"),
        "expired": (expired, None),
        "broken chain": (der + to_pem([other_ca.chain[-1]]), None),
    }


def test_bad_input_leaves_the_token_unchanged(token: Pkcs11Token, ca: LocalCA, tmp_path: Path) -> None:
    token.generate_key(KeyType.EC_P256, "holder")
    token.generate_key(KeyType.EC_P256, "other")
    other_ca = LocalCA.init(tmp_path / "other", name="Other CA")
    for case, (data, key) in _bad_inputs(token, ca, other_ca).items():
        with pytest.raises(InvalidInput) as info:
            install_certificates(token, data, key=key)
        assert str(info.value), case
        assert token_certificates(token) == [], case


def test_certificate_for_no_key_on_the_token(token: Pkcs11Token, ca: LocalCA, module) -> None:  # type: ignore[no-untyped-def]
    token.generate_key(KeyType.EC_P256, "holder")
    pem = _issue(token, ca, "holder")
    token.delete_key("holder")
    with pytest.raises(KeyNotFound):
        install_certificates(token, pem)


def test_renewal_window(token: Pkcs11Token, ca: LocalCA) -> None:
    token.generate_key(KeyType.EC_P256, "soon")
    install_certificates(token, _issue(token, ca, "soon", days=20))
    cert = certificate_for_key(token, "soon")
    assert cert.info.renew_due and not cert.info.expired and cert.info.status == "renew-due"
    later = certificate_for_key(token, "soon", now=datetime.now(timezone.utc) + timedelta(days=30))
    assert later.info.expired


def test_self_signed_from_a_token_key(token: Pkcs11Token, tmp_path: Path) -> None:
    token.generate_key(KeyType.RSA2048, "self")
    der = build_self_signed(TokenSigner(token, "self"), "CN=counter test,C=CN", 365)
    install_certificates(token, der)
    (tmp_path / "c.pem").write_bytes(to_pem([der]))
    done = subprocess.run(["openssl", "verify", "-CAfile", tmp_path / "c.pem", tmp_path / "c.pem"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert certificate_for_key(token, "self").info.self_signed


@pytest.mark.parametrize("key_type", [KeyType.RSA2048, KeyType.EC_P256])
def test_cms_signed_on_the_token_verifies_with_openssl(
    token: Pkcs11Token, ca: LocalCA, tmp_path: Path, key_type: KeyType
) -> None:
    token.generate_key(key_type, "cms")
    install_certificates(token, _issue(token, ca, "cms"))
    cert = certificate_for_key(token, "cms")
    data = "参保缴费记录 2026-11".encode()
    cms = sign_cms(TokenSigner(token, "cms"), cert.der, data, chain=chain_for(token, cert)[1:])
    assert verify_cms(cms, data, trust=[ca.chain[-1]]).signer_subject == cert.info.subject
    (tmp_path / "data").write_bytes(data)
    (tmp_path / "sig.der").write_bytes(cms)
    (tmp_path / "root.pem").write_bytes(to_pem([ca.chain[-1]]))
    done = subprocess.run(
        ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", tmp_path / "sig.der",
         "-content", tmp_path / "data", "-CAfile", tmp_path / "root.pem", "-purpose", "any", "-out", "/dev/null"],
        capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stderr
