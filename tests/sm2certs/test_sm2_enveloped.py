"""`sitoken decrypt --cms`: SM2 CMS EnvelopedData addressed to the holder's encryption certificate, opened with
the encryption key on the software SKF token. OpenSSL 3.0 cannot make SM2 CMS (shared/SKF.md section 9), so
the messages are built here independently of sitoken: the content key SM2-encrypted by `openssl pkeyutl`, the
content by `openssl enc -sm4-cbc`, the structure by asn1crypto."""

from __future__ import annotations

import base64
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest
from asn1crypto import cms, core, x509

from cli_support import Outcome, invoke
from sitoken import skf
from sitoken.certs import build_csr, to_pem
from sitoken.certs.ontoken import TokenSigner
from sitoken.certs.sm2ca import Sm2LocalCA
from sitoken.cli import exitcodes
from sitoken.pin import Pin
from sitoken.sm2 import Sm2PrivateKey
from sitoken.sm2.envelope import EnvelopedKey
from sitoken.token import KeyType
from skf_bed import SO_PIN, USER_PIN, new_skf_token

PINS = {"SO": SO_PIN, "PIN": USER_PIN}
MESSAGE = "给张三的加密信件 / a letter for 张三\n".encode() * 3
# OIDs as the sources write them (shared/SKF.md section 8), spelled out here rather than taken from sitoken.
PKCS7_DATA, GMT_DATA, GMT_ENVELOPED = "1.2.840.113549.1.7.1", "1.2.156.10197.6.1.4.2.1", "1.2.156.10197.6.1.4.2.3"
SM2, SM2_3, SM4_CBC, AES128_CBC = "1.2.156.10197.1.301", "1.2.156.10197.1.301.3", "1.2.156.10197.1.104.2", \
    "2.16.840.1.101.3.4.1.2"


class _GmtContentInfo(core.Sequence):  # type: ignore[misc]
    """ContentInfo with the content typed, so asn1crypto writes [0] EXPLICIT around an OID it does not know."""

    _fields: ClassVar = [("content_type", core.ObjectIdentifier), ("content", cms.EnvelopedData, {"explicit": 0})]


def openssl(*args: str, data: bytes | None = None) -> bytes:
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=True).stdout


@dataclass
class Recipient:
    certificate: bytes
    public_pem: Path


def envelope(to: Recipient, *, gmt: bool = False, key_oid: str = SM2_3, content_oid: str = SM4_CBC,
             tamper_key: bool = False, bad_padding: bool = False, by_key_id: bool = False) -> bytes:
    """An EnvelopedData of MESSAGE for ``to``, PKCS#7 or GM/T 0010 content types; the recipient named by
    issuer and serial number, or (``by_key_id``) by its certificate's subject key identifier."""
    key, iv = os.urandom(16), os.urandom(16)
    wrapped = openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", str(to.public_pem), data=key)
    if tamper_key:  # a byte of C2, the SM2-encrypted key itself, at the end of the SM2Cipher DER
        wrapped = wrapped[:-1] + bytes([wrapped[-1] ^ 1])
    plain, pad = (bytes(16), ["-nopad"]) if bad_padding else (MESSAGE, [])
    content = openssl("enc", "-sm4-cbc", "-K", key.hex(), "-iv", iv.hex(), *pad, data=plain)
    cert = x509.Certificate.load(to.certificate)
    tbs = cert["tbs_certificate"]
    rid = cms.RecipientIdentifier(name="subject_key_identifier", value=cert.key_identifier) if by_key_id else \
        cms.RecipientIdentifier(name="issuer_and_serial_number", value={
            "issuer": tbs["issuer"], "serial_number": tbs["serial_number"]})
    enveloped = cms.EnvelopedData({
        "version": "v0",
        "recipient_infos": [cms.RecipientInfo(name="ktri", value={
            "version": "v0",
            "rid": rid,
            "key_encryption_algorithm": {"algorithm": key_oid},
            "encrypted_key": wrapped,
        })],
        "encrypted_content_info": {
            "content_type": GMT_DATA if gmt else PKCS7_DATA,
            "content_encryption_algorithm": {"algorithm": content_oid, "parameters": core.OctetString(iv)},
            "encrypted_content": content,
        },
    })
    if gmt:
        return bytes(_GmtContentInfo({"content_type": GMT_ENVELOPED, "content": enveloped}).dump())
    return bytes(cms.ContentInfo({"content_type": "enveloped_data", "content": enveloped}).dump())


@pytest.fixture(scope="module")
def holder(tmp_path_factory: pytest.TempPathFactory, skf_library: str) -> tuple[list[str], Recipient, Recipient]:
    """A token with dual SM2 certificates (the KMC's encryption key imported) and a stranger's encryption cert.

    Shared by the tests below: decrypting changes nothing on the token."""
    tmp_path = tmp_path_factory.mktemp("holder")
    name = new_skf_token()
    token = skf.open_token("skf", name)
    try:
        token.login(Pin(USER_PIN))
        token.generate_key(KeyType.SM2, "zs")
        ca = Sm2LocalCA.init(tmp_path / "ca", with_intermediate=False)
        signing = ca.issue(build_csr(TokenSigner(token, "zs"), "CN=张三,C=CN"))
        delivery = ca.issue_encryption_pair(signing.certificate)
        token.import_encryption_key(
            "zs", skf.blobs.enveloped_key_blob(EnvelopedKey.from_der(delivery.envelope), token.library.ulong))
    finally:
        token.close()
    sel = ["--module", "skf", "--token", name]
    for label, der in (("sign", signing.certificate), ("enc", delivery.certificate)):
        (tmp_path / f"{label}.pem").write_bytes(to_pem([der]))
        assert invoke(["cert", "import", *sel, str(tmp_path / f"{label}.pem"), "--pin-env", "PIN"], PINS).code == 0
    other = ca.issue_encryption(x509.Certificate.load(signing.certificate).subject.dump(),
                                Sm2PrivateKey.generate().public_key().spki)
    recipients = []
    for label, der in (("enc", delivery.certificate), ("other", other.certificate)):
        (tmp_path / f"{label}.crt").write_bytes(to_pem([der]))
        (tmp_path / f"{label}.pub").write_bytes(openssl("x509", "-in", str(tmp_path / f"{label}.crt"), "-pubkey",
                                                        "-noout"))
        recipients.append(Recipient(der, tmp_path / f"{label}.pub"))
    return sel, recipients[0], recipients[1]


def _decrypt(sel: list[str], tmp_path: Path, message: bytes, name: str) -> Outcome:
    (tmp_path / f"{name}.p7m").write_bytes(message)
    return invoke(["decrypt", *sel, "--key", "zs/enc", "--cms", "--in", str(tmp_path / f"{name}.p7m"),
                   "--out", str(tmp_path / f"{name}.out"), "--pin-env", "PIN", "--json"], PINS)


def test_sm2_enveloped_data_in_pkcs7_and_gmt0010_form_opens_on_the_token(
        tmp_path: Path, holder: tuple[list[str], Recipient, Recipient]) -> None:
    sel, mine, _ = holder
    for name, message, identifiers in (
            ("pkcs7", envelope(mine, key_oid=SM2), "pkcs7"),  # OpenSSL's SM2 OID for the key transport
            ("gmt", envelope(mine, gmt=True), "gmt0010"),  # GM/T 0010 types, GM/T 0006's SM2-3
            ("ski", envelope(mine, key_oid="1.2.156.10197.1.301.2", by_key_id=True), "pkcs7"),  # GmSSL's OID
    ):
        done = _decrypt(sel, tmp_path, message, name)
        assert done.code == 0, done.out + done.err
        assert (tmp_path / f"{name}.out").read_bytes() == MESSAGE
        assert done.json()["identifiers"] == identifiers and done.json()["content_algorithm"] == "sm4-cbc"
        assert done.json()["recipient"] == "CN=张三,C=CN"
    pem = b"-----BEGIN CMS-----\n" + base64.encodebytes(envelope(mine)) + b"-----END CMS-----\n"
    assert _decrypt(sel, tmp_path, pem, "pem").code == 0 and (tmp_path / "pem.out").read_bytes() == MESSAGE


@pytest.mark.parametrize(("case", "code", "words"), [
    ("another recipient", exitcodes.KEY_NOT_FOUND, "none of them this key's certificate"),
    ("another key id", exitcodes.KEY_NOT_FOUND, "none of them this key's certificate"),
    ("tampered key", exitcodes.INVALID_INPUT, "does not decrypt with this key"),
    ("bad padding", exitcodes.INVALID_INPUT, "bad padding"),
    ("AES content", exitcodes.NOT_SUPPORTED, "content encryption"),
    ("RSA key transport", exitcodes.NOT_SUPPORTED, "RSA key transport"),
    ("signed data", exitcodes.INVALID_INPUT, "not enveloped data"),
])
def test_refusals_say_why_and_write_nothing(tmp_path: Path, holder: tuple[list[str], Recipient, Recipient],
                                            case: str, code: int, words: str) -> None:
    sel, mine, other = holder
    message = {
        "another recipient": lambda: envelope(other, gmt=True),
        "another key id": lambda: envelope(other, by_key_id=True),
        "tampered key": lambda: envelope(mine, tamper_key=True),
        "bad padding": lambda: envelope(mine, bad_padding=True),
        "AES content": lambda: envelope(mine, content_oid=AES128_CBC),
        "RSA key transport": lambda: envelope(mine, key_oid="1.2.840.113549.1.1.1"),
        "signed data": lambda: bytes(cms.ContentInfo({"content_type": "signed_data", "content": {
            "version": "v1", "digest_algorithms": [], "encap_content_info": {"content_type": "data"},
            "signer_infos": []}}).dump()),
    }[case]()
    refused = _decrypt(sel, tmp_path, message, "m")
    assert refused.code == code, refused.out + refused.err
    assert words in refused.json()["message"]
    assert not (tmp_path / "m.out").exists()
