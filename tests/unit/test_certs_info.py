"""CertInfo: fields, expiry and renewal state, chain completeness, stable JSON."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from certs_helpers import SUBJECT, shared_ca, signer

from sitoken.certs import build_csr, build_self_signed, cert_info, spki_fingerprint
from sitoken.certs.info import serial_hex
from sitoken.token import KeyType

START = datetime(2026, 1, 1, tzinfo=timezone.utc)
SELF = build_self_signed(signer(KeyType.EC_P256), SUBJECT, 365, not_before=START,
                         serial=0x0ABC, san=["email:zs@example.cn"])
END = START + timedelta(days=365)

_FIELDS = {
    "subject", "issuer", "serial", "not_before", "not_after", "days_left", "status", "expired",
    "not_yet_valid", "renew_due", "key_type", "spki_sha256", "subject_key_id",
    "fingerprint_sha256", "signature_algorithm", "is_ca", "self_signed", "chain_complete",
    "chain_length", "key_usage", "extended_key_usage", "san",
}


def test_fields_of_a_self_signed_certificate() -> None:
    info = cert_info(SELF, now=START + timedelta(days=10))
    assert info.subject == SUBJECT and info.issuer == SUBJECT
    assert info.serial == "0abc"
    assert (info.not_before, info.not_after) == (START, END)
    assert info.days_left == 355
    assert info.key_type is KeyType.EC_P256
    assert info.spki_sha256 == spki_fingerprint(signer(KeyType.EC_P256).public_key_der())
    assert info.self_signed and info.chain_complete and not info.is_ca
    assert info.key_usage == ("digital_signature", "non_repudiation")
    assert info.san == ("email:zs@example.cn",)
    assert info.signature_algorithm == "sha256_ecdsa"


@pytest.mark.parametrize(
    ("now", "status", "days_left"),
    [
        (START - timedelta(days=1), "not-yet-valid", 366),
        (START + timedelta(days=100), "valid", 265),
        (END - timedelta(days=31), "valid", 31),
        (END - timedelta(days=30), "renew-due", 30),
        (END - timedelta(hours=1), "renew-due", 0),
        (END + timedelta(seconds=1), "expired", -1),
        (END + timedelta(days=40), "expired", -40),
    ],
)
def test_expiry_and_renewal_window(now: datetime, status: str, days_left: int) -> None:
    info = cert_info(SELF, now=now)
    assert info.status == status
    assert info.days_left == days_left
    assert info.renew_due == (status == "renew-due")
    assert info.expired == (status == "expired")


def test_renewal_window_is_configurable() -> None:
    now = END - timedelta(days=45)
    assert not cert_info(SELF, now=now).renew_due
    assert cert_info(SELF, now=now, renew_window_days=60).renew_due


def test_chain_complete_only_with_the_whole_chain() -> None:
    leaf, chain = shared_ca().issue(build_csr(signer(KeyType.EC_P256), SUBJECT))
    alone = cert_info(leaf)
    assert not alone.chain_complete and alone.chain_length == 1
    partial = cert_info(leaf, chain=chain[:1])
    assert not partial.chain_complete and partial.chain_length == 2
    whole = cert_info(leaf, chain=list(reversed(chain)))
    assert whole.chain_complete and whole.chain_length == 3
    assert whole.extended_key_usage == ("client_auth", "email_protection")
    root = cert_info(chain[-1])
    assert root.is_ca and root.self_signed and root.chain_complete


def test_to_dict_is_json_with_stable_fields_and_iso_dates() -> None:
    data = json.loads(json.dumps(cert_info(SELF, now=START).to_dict()))
    assert set(data) == _FIELDS
    assert data["not_after"] == "2027-01-01T00:00:00+00:00"
    assert data["key_type"] == "ec-p256"
    assert data["status"] == "valid"
    assert data["san"] == ["email:zs@example.cn"]


def test_serial_hex_is_even_length_lower_case() -> None:
    assert serial_hex(0xABC) == "0abc"
    assert serial_hex(255) == "ff"
    assert serial_hex(-1) == "-01"
