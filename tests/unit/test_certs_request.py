"""PKCS#10 requests and self-signed certificates built with asn1crypto, checked by openssl."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from asn1crypto import x509 as a509
from certs_helpers import SIGNING_CASES, SUBJECT, openssl, signer, write_pem
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID

from sitoken.certs import build_csr, build_self_signed, text_extension
from sitoken.certs.extensions import CustomExtension
from sitoken.certs.keys import signature_algorithm
from sitoken.errors import InvalidInput
from sitoken.token import KeyType, Mechanism


@pytest.mark.parametrize(("key_type", "mechanism"), SIGNING_CASES)
def test_openssl_accepts_every_request(tmp_path: Path, key_type: KeyType,
                                       mechanism: Mechanism) -> None:
    der = build_csr(signer(key_type), SUBJECT, mechanism=mechanism, san=["email:zs@example.cn"])
    (tmp_path / "req.der").write_bytes(der)
    result = openssl("req", "-verify", "-in", str(tmp_path / "req.der"), "-inform", "DER",
                     "-noout")
    assert result.returncode == 0, result.stderr
    assert "verify OK" in result.stdout + result.stderr
    request = x509.load_der_x509_csr(der)
    assert request.is_signature_valid
    assert request.signature_algorithm_oid.dotted_string == \
        signature_algorithm(mechanism)["algorithm"].dotted


def test_request_carries_subject_sans_usages_and_identity_extension() -> None:
    der = build_csr(
        signer(KeyType.EC_P256), SUBJECT,
        san=["email:zs@example.cn", "dns:例子.中国", "uri:https://si.example.cn/u/1"],
        extended_key_usage=["client_auth", "emailProtection"],
        extra_extensions=[text_extension("1.2.156.10260.4.1.1", "110101199003071234")],
    )
    request = x509.load_der_x509_csr(der)
    assert request.subject.rfc4514_string() == SUBJECT
    san = request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.RFC822Name) == ["zs@example.cn"]
    assert san.get_values_for_type(x509.DNSName) == ["xn--fsqu00a.xn--fiqs8s"]
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == ["https://si.example.cn/u/1"]
    usage = request.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and usage.value.content_commitment
    assert not usage.value.key_encipherment
    eku = request.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION]
    identity = request.extensions.get_extension_for_oid(
        x509.ObjectIdentifier("1.2.156.10260.4.1.1"))
    assert identity.value.value == b"\x0c\x12110101199003071234"


def test_empty_key_usage_and_no_sans_give_a_request_without_attributes() -> None:
    der = build_csr(signer(KeyType.EC_P256), "CN=x", key_usage=())
    assert len(x509.load_der_x509_csr(der).extensions) == 0


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"subject": ""}, "empty"),
        ({"san": ["ip:1.2.3.4"]}, "not supported"),
        ({"san": ["email:nobody"]}, "e-mail"),
        ({"san": ["dns:bad_name.cn"]}, "DNS name"),
        ({"san": ["uri:no scheme"]}, "URI"),
        ({"san": ["example.cn"]}, "must look like"),
        ({"key_usage": ["sign_everything"]}, "unknown key usage"),
        ({"extended_key_usage": ["world_domination"]}, "unknown extended key usage"),
        ({"extra_extensions": [CustomExtension("2.5.29.15", b"\x03\x02\x07\x80")]}, "twice"),
        ({"extra_extensions": [CustomExtension("1.2.3", b"\x0c\x05ab")]}, "DER"),
        ({"mechanism": Mechanism.RSA_PKCS_SHA256}, "does not fit"),
    ],
)
def test_bad_request_input_raises_invalid_input(kwargs: dict[str, object], fragment: str) -> None:
    args: dict[str, object] = {"subject": "CN=x"} | kwargs
    subject = str(args.pop("subject"))
    with pytest.raises(InvalidInput, match=fragment):
        build_csr(signer(KeyType.EC_P256), subject, **args)  # type: ignore[arg-type]


@pytest.mark.parametrize(("key_type", "mechanism"), SIGNING_CASES)
def test_self_signed_certificate_verifies_with_openssl(tmp_path: Path, key_type: KeyType,
                                                       mechanism: Mechanism) -> None:
    der = build_self_signed(signer(key_type), SUBJECT, 30, mechanism=mechanism)
    pem = write_pem(tmp_path / "self.pem", [der])
    result = openssl("verify", "-CAfile", str(pem), str(pem))
    assert result.returncode == 0, result.stdout + result.stderr
    cert = x509.load_der_x509_certificate(der)
    cert.verify_directly_issued_by(cert)
    assert cert.issuer == cert.subject
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(cert.public_key())  # type: ignore[arg-type]


def test_self_signed_validity_and_serial() -> None:
    start = datetime(2026, 3, 1, 8, 30, 15, 999, tzinfo=timezone.utc)
    der = build_self_signed(signer(KeyType.EC_P256), "CN=x", 365, not_before=start, serial=7)
    cert = x509.load_der_x509_certificate(der)
    assert cert.serial_number == 7
    assert cert.not_valid_before_utc == start.replace(microsecond=0)
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(days=365)


def test_dates_from_2050_use_generalized_time() -> None:
    start = datetime(2049, 6, 1, tzinfo=timezone.utc)
    der = build_self_signed(signer(KeyType.EC_P256), "CN=x", 365, not_before=start)
    validity = a509.Certificate.load(der)["tbs_certificate"]["validity"]
    assert validity["not_before"].name == "utc_time"
    assert validity["not_after"].name == "general_time"


def test_self_signed_needs_a_positive_validity() -> None:
    with pytest.raises(InvalidInput, match="at least one day"):
        build_self_signed(signer(KeyType.EC_P256), "CN=x", 0)


def test_random_serials_differ_and_fit_20_octets() -> None:
    serials = {x509.load_der_x509_certificate(
        build_self_signed(signer(KeyType.ED25519), "CN=x", 1)).serial_number for _ in range(5)}
    assert len(serials) == 5
    assert all(0 < s < 2**159 for s in serials)


def test_extension_list_has_no_key_usage_when_asked_for_none() -> None:
    der = build_self_signed(signer(KeyType.EC_P256), "CN=x", 1, key_usage=())
    oids = {e.oid for e in x509.load_der_x509_certificate(der).extensions}
    assert ExtensionOID.KEY_USAGE not in oids
    assert ExtensionOID.BASIC_CONSTRAINTS in oids
