"""SM2 requests from a key on the software SKF token and an SM2 local CA, checked by openssl with the signer ID."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest
from asn1crypto import csr, x509

from cli_support import Outcome, invoke
from sitoken import skf
from sitoken.certs import build_csr, csr_pem, text_extension, to_pem, validate_path
from sitoken.certs.ontoken import TokenSigner
from sitoken.certs.sm2ca import Sm2LocalCA
from sitoken.errors import InvalidInput, SignatureInvalid
from sitoken.pin import Pin
from sitoken.sm2 import Sm2PrivateKey
from sitoken.token import KeyType
from skf_bed import SO_PIN, USER_PIN

DISTID = "distid:1234567812345678"
SUBJECT = "CN=张三,OU=Individual-1,O=某社保中心,C=CN"


def openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)


def openssl_verifies(anchor: Path, cert: Path, *, distid: bool = True, partial: bool = False) -> bool:
    """``openssl verify [-partial_chain] -CAfile ANCHOR [-vfyopt distid:1234567812345678] CERT``."""
    args = ["verify", *(["-partial_chain"] if partial else []), "-CAfile", str(anchor)]
    run = openssl(*args, *(["-vfyopt", DISTID] if distid else []), str(cert))
    return run.returncode == 0 and run.stdout.strip().endswith(": OK")


def request_verifies(path: Path, distid: str = DISTID) -> bool:
    """``openssl req -verify -vfyopt distid:...``: it exits 0 even on failure, so read what it says."""
    run = openssl("req", "-in", str(path), "-noout", "-verify", "-vfyopt", distid)
    return run.returncode == 0 and "verify OK" in run.stdout + run.stderr


@pytest.fixture()
def sm2_key(skf_token: skf.SkfToken) -> TokenSigner:
    skf_token.login(Pin(USER_PIN))
    skf_token.generate_key(KeyType.SM2, "sign1")
    return TokenSigner(skf_token, "sign1")


def _request(signer: TokenSigner) -> bytes:
    return build_csr(signer, SUBJECT, san=["email:zhangsan@example.cn"],
                     extra_extensions=[text_extension("1.2.156.10260.4.1.1", "110101199003070011")])


def test_request_from_the_token_key_verifies_in_openssl_only_with_the_signer_id(
        tmp_path: Path, sm2_key: TokenSigner) -> None:
    req = tmp_path / "req.pem"
    req.write_bytes(csr_pem(_request(sm2_key)))
    assert request_verifies(req)
    # OpenSSL 3.0's default ID is empty: the same request fails without the ID (but exits 0).
    other = openssl("req", "-in", str(req), "-noout", "-verify")
    assert "verify failure" in other.stdout + other.stderr
    text = openssl("req", "-in", str(req), "-noout", "-text", "-nameopt", "utf8").stdout
    assert "SM2-with-SM3" in text and "CN=张三" in text and "email:zhangsan@example.cn" in text
    assert "1.2.156.10260.4.1.1" in text
    info = csr.CertificationRequest.load(_request(sm2_key))["certification_request_info"]
    kinds = {atv["type"].native: atv["value"].name for rdn in info["subject"].chosen for atv in rdn}
    assert kinds["common_name"] == kinds["organization_name"] == "utf8_string"


def test_a_configured_signer_id_is_what_the_request_binds(tmp_path: Path, sm2_key: TokenSigner) -> None:
    sm2_key.token.sm2_id = b"zhangsan@example.cn"
    req = tmp_path / "req.pem"
    req.write_bytes(csr_pem(_request(sm2_key)))
    assert request_verifies(req, "distid:zhangsan@example.cn")
    assert not request_verifies(req)


def test_sm2_ca_issues_signature_and_encryption_certificates_openssl_verifies(
        tmp_path: Path, sm2_key: TokenSigner) -> None:
    ca = Sm2LocalCA.init(tmp_path / "ca", name="QA SM2")
    signing = ca.issue(_request(sm2_key), days=30)
    enc_key = Sm2PrivateKey.generate()  # what a KMC makes for the holder
    subject = x509.Certificate.load(signing.certificate).subject.dump()
    encryption = ca.issue_encryption(subject, enc_key.public_key().spki, days=30)
    inter, root = (tmp_path / "inter.pem"), (tmp_path / "root.pem")
    inter.write_bytes(to_pem([ca.chain[0]]))
    root.write_bytes(to_pem([ca.chain[-1]]))
    # OpenSSL 3.0's verify gives -vfyopt's ID to the target certificate only (an -untrusted issuing CA
    # is checked with the empty ID), so each link of root -> issuing CA -> leaf is checked on its own.
    assert openssl_verifies(root, inter) and not openssl_verifies(root, inter, distid=False)
    for name, issued in (("sign", signing), ("enc", encryption)):
        leaf = tmp_path / f"{name}.pem"
        leaf.write_bytes(to_pem([issued.certificate]))
        assert openssl_verifies(inter, leaf, partial=True)
        assert not openssl_verifies(inter, leaf, partial=True, distid=False)
    # sitoken checks the whole signing path itself, SM2 signatures included; a broken link fails.
    now = datetime.now(timezone.utc)
    assert len(validate_path(signing.certificate, [ca.chain[0]], [ca.chain[-1]], now)) == 3
    forged = Sm2LocalCA.init(tmp_path / "other", name="QA SM2")  # same names, other keys
    with pytest.raises(SignatureInvalid):
        validate_path(signing.certificate, [forged.chain[0]], [ca.chain[-1]], now)
    with pytest.raises(SignatureInvalid, match="not for signatures"):
        validate_path(encryption.certificate, [ca.chain[0]], [ca.chain[-1]], now)
    sign_text = openssl("x509", "-in", str(tmp_path / "sign.pem"), "-noout", "-text").stdout
    enc_text = openssl("x509", "-in", str(tmp_path / "enc.pem"), "-noout", "-text").stdout
    assert "Digital Signature, Non Repudiation" in sign_text and "Key Encipherment" not in sign_text
    assert "Key Encipherment, Data Encipherment, Key Agreement" in enc_text and "Digital Signature" not in enc_text
    assert "email:zhangsan@example.cn" in sign_text and "1.2.156.10260.4.1.1" in sign_text
    assert x509.Certificate.load(signing.certificate).public_key.dump() == sm2_key.public_key_der()


def test_sm2_ca_refuses_a_request_signed_with_another_id_or_tampered(tmp_path: Path, sm2_key: TokenSigner) -> None:
    ca = Sm2LocalCA.init(tmp_path / "ca", with_intermediate=False)
    der = _request(sm2_key)
    with pytest.raises(InvalidInput, match="does not verify"):
        ca.issue(der, request_id=b"another-id")
    tampered = bytearray(der)
    where = bytes(der).index("张三".encode())
    tampered[where:where + 3] = "李".encode()
    with pytest.raises(InvalidInput, match="does not verify"):
        ca.issue(bytes(tampered))
    assert not (tmp_path / "ca" / "issued").exists()  # nothing issued on a refused request


def test_cli_csr_and_sm2_ca_as_a_new_user_runs_them(tmp_path: Path, skf_library: str) -> None:
    pins = {"SO": SO_PIN, "PIN": USER_PIN}

    def cli(*args: str) -> Outcome:
        return invoke(list(args), pins)

    run: Callable[..., Outcome] = cli
    assert run("sim", "create", "--skf", "sm2cli", "--so-pin-env", "SO", "--pin-env", "PIN").code == 0
    sel = ["--module", "skf", "--token", "sm2cli"]
    assert run("key", "generate", *sel, "--type", "sm2", "--label", "sign1", "--pin-env", "PIN").code == 0
    made = run("csr", *sel, "--key", "sign1", "--subject", SUBJECT, "--san", "email:zs@example.cn",
               "--out", str(tmp_path / "req.pem"), "--pin-env", "PIN", "--json")
    assert made.code == 0, made.err
    assert request_verifies(tmp_path / "req.pem")
    init = run("ca", "init", str(tmp_path / "ca"), "--algorithm", "sm2", "--json")
    assert init.code == 0 and init.json()["algorithm"] == "sm2" and init.json()["chain_length"] == 2
    issued = run("ca", "issue", str(tmp_path / "ca"), "--csr", str(tmp_path / "req.pem"),
                 "--out", str(tmp_path / "cert.pem"), "--json")
    assert issued.code == 0, issued.err
    assert openssl_verifies(tmp_path / "ca" / "root.pem", tmp_path / "ca" / "intermediate.pem")
    assert openssl_verifies(tmp_path / "ca" / "intermediate.pem", tmp_path / "cert.pem", partial=True)
    refused = run("ca", "issue", str(tmp_path / "ca"), "--csr", str(tmp_path / "req.pem"), "--sm2-id", "other",
                  "--out", str(tmp_path / "cert2.pem"), "--json")
    assert refused.code != 0 and not (tmp_path / "cert2.pem").exists()
