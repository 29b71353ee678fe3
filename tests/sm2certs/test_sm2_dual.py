"""Dual certificates with the KMC stand-in: the envelope opens only with the holder's signature key on the SKF
token, both certificates go into the container, and a message openssl encrypts to the encryption certificate
is decrypted by `sitoken decrypt`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from asn1crypto import x509

from cli_support import Outcome, invoke
from sitoken import skf
from sitoken.certs import build_csr, load_certificates
from sitoken.certs.ontoken import TokenSigner
from sitoken.certs.sm2ca import Sm2LocalCA, recover_escrow
from sitoken.errors import KeyNotFound, SitokenError
from sitoken.pin import Pin
from sitoken.sm2 import Sm2PrivateKey
from sitoken.sm2.envelope import EnvelopedKey
from sitoken.token import KeyType
from skf_bed import SO_PIN, USER_PIN

PINS = {"SO": SO_PIN, "PIN": USER_PIN}


def cli(*args: str) -> Outcome:
    return invoke(list(args), PINS)


def _signature_certificate(ca: Sm2LocalCA, token: skf.SkfToken, label: str) -> bytes:
    token.generate_key(KeyType.SM2, label)
    return ca.issue(build_csr(TokenSigner(token, label), "CN=张三,C=CN", san=["email:zs@example.cn"])).certificate


def test_envelope_opens_only_with_the_holder_key_and_a_refusal_leaves_the_container_unchanged(
        tmp_path: Path, skf_token: skf.SkfToken) -> None:
    skf_token.login(Pin(USER_PIN))
    ca = Sm2LocalCA.init(tmp_path / "ca")
    holder_cert = _signature_certificate(ca, skf_token, "holder")
    _signature_certificate(ca, skf_token, "other")
    delivery = ca.issue_encryption_pair(holder_cert)
    envelope = EnvelopedKey.from_der(delivery.envelope)
    blob = skf.blobs.enveloped_key_blob(envelope, skf_token.library.ulong)
    with pytest.raises(SitokenError):  # another container's signature key cannot open it
        skf_token.import_encryption_key("other", blob)
    tampered = EnvelopedKey(envelope.wrapped_key, envelope.public_point,
                            bytes([envelope.encrypted_private[0] ^ 1]) + envelope.encrypted_private[1:])
    with pytest.raises(SitokenError):
        skf_token.import_encryption_key("holder", skf.blobs.enveloped_key_blob(tampered, skf_token.library.ulong))
    for label in ("holder/enc", "other/enc"):
        with pytest.raises(KeyNotFound):
            skf_token.public_key_der(label)
    info = skf_token.import_encryption_key("holder", blob)
    assert info.label == "holder/enc"
    # The escrow copy, kept encrypted at rest, is the key the token now holds.
    escrowed = recover_escrow(tmp_path / "ca", delivery.escrow_ref)
    assert skf_token.public_key_der("holder/enc") == escrowed.public_key().spki
    sealed = (tmp_path / "ca" / "kmc" / "escrow" / delivery.escrow_ref).read_bytes()
    assert escrowed.pkcs8() not in sealed and escrowed.scalar() not in sealed
    assert (tmp_path / "ca" / "kmc" / "kmc.key").stat().st_mode & 0o077 == 0


def test_dual_certificates_on_the_token_and_openssl_ciphertext_decrypted_by_sitoken(
        tmp_path: Path, skf_library: str) -> None:
    assert cli("sim", "create", "--skf", "dual1", "--so-pin-env", "SO", "--pin-env", "PIN").code == 0
    sel = ["--module", "skf", "--token", "dual1"]
    assert cli("key", "generate", *sel, "--type", "sm2", "--label", "zs", "--pin-env", "PIN").code == 0
    assert cli("csr", *sel, "--key", "zs", "--subject", "CN=张三,C=CN", "--out", str(tmp_path / "req.pem"),
               "--pin-env", "PIN").code == 0
    assert cli("ca", "init", str(tmp_path / "ca"), "--algorithm", "sm2").code == 0
    issued = cli("ca", "issue", str(tmp_path / "ca"), "--csr", str(tmp_path / "req.pem"), "--out",
                 str(tmp_path / "sign.pem"), "--enc-out", str(tmp_path / "enc.pem"), "--envelope-out",
                 str(tmp_path / "enc.env"), "--json")
    assert issued.code == 0 and issued.json()["escrow_ref"], issued.err + issued.out
    enc_cert = load_certificates((tmp_path / "enc.pem").read_bytes())[0]
    assert recover_escrow(tmp_path / "ca", issued.json()["escrow_ref"]).public_key().spki == \
        x509.Certificate.load(enc_cert).public_key.dump()
    imported = cli("import-envelope", *sel, "--key", "zs", "--envelope", str(tmp_path / "enc.env"),
                   "--pin-env", "PIN", "--json")
    assert imported.code == 0 and imported.json()["key"] == "zs/enc", imported.err + imported.out
    for cert in ("sign.pem", "enc.pem"):
        done = cli("cert", "import", *sel, str(tmp_path / cert), "--pin-env", "PIN")
        assert done.code == 0, done.err + done.out
    shown = cli("cert", "list", *sel, "--json")
    assert shown.code == 0, shown.out
    listed = {c["key"]: c for c in shown.json()}
    assert set(listed) == {"zs", "zs/enc"} and listed["zs"]["subject"] == listed["zs/enc"]["subject"]
    # OpenSSL encrypts to the encryption certificate's key; sitoken decrypts on the token.
    subprocess.run(["openssl", "x509", "-in", str(tmp_path / "enc.pem"), "-pubkey", "-noout",
                    "-out", str(tmp_path / "enc.pub")], check=True)
    message = "给张三的消息 / a message".encode()
    (tmp_path / "msg").write_bytes(message)
    subprocess.run(["openssl", "pkeyutl", "-encrypt", "-pubin", "-inkey", str(tmp_path / "enc.pub"),
                    "-in", str(tmp_path / "msg"), "-out", str(tmp_path / "msg.sm2")], check=True)
    done = cli("decrypt", *sel, "--key", "zs/enc", "--in", str(tmp_path / "msg.sm2"), "--out",
               str(tmp_path / "msg.out"), "--pin-env", "PIN", "--json")
    assert done.code == 0, done.err + done.out
    assert (tmp_path / "msg.out").read_bytes() == message
    (tmp_path / "bad.sm2").write_bytes(Sm2PrivateKey.generate().public_key().encrypt(message).to_der())
    refused = cli("decrypt", *sel, "--key", "zs/enc", "--in", str(tmp_path / "bad.sm2"), "--out",
                  str(tmp_path / "bad.out"), "--pin-env", "PIN", "--json")
    assert refused.code != 0 and not (tmp_path / "bad.out").exists()
