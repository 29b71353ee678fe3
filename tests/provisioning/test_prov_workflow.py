"""The counter workflow on SoftHSM: both applicant kinds, profiles in the certificate, reruns, hand-off."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import core
from cryptography import x509
from cryptography.x509.oid import NameOID
from prov_support import HOLDER_PIN, ORG, PERSON, PERSON_2, Bed, open_by_label, validated

from sitoken.certs import LocalCA, to_pem
from sitoken.certs.ontoken import token_certificates
from sitoken.discovery import open_token
from sitoken.errors import InvalidInput, PinPolicyError
from sitoken.provisioning.issuers import FileHandoffIssuer
from sitoken.provisioning.journal import STEPS
from sitoken.token import KeyType


def holder_objects(label: str) -> tuple[list[Any], list[Any], list[Any]]:
    """Keys, the holder's certificates and CA certificates on a provisioned token."""
    token = open_by_label(label)
    try:
        certs = token_certificates(token)
        return token.keys(), [c for c in certs if not c.authority], [c for c in certs if c.authority]
    finally:
        token.close()


def identity_extension(der: bytes, oid: str) -> str:
    cert = x509.load_der_x509_certificate(der)
    value = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(oid)).value
    return str(core.UTF8String.load(value.value).native)  # type: ignore[attr-defined]


def test_personal_applicant_end_to_end(make_counter: Any, bed: Bed) -> None:
    counter = make_counter()
    result = counter.provision(validated(PERSON))
    assert result.state == "done" and not result.already_done
    # The label carries the enrolment number, never digits of the ID number (it is shown to anyone).
    assert result.token_label.startswith(f"SI-{result.enrolment:06d}-") and "071239" not in result.token_label
    keys, leaves, authorities = holder_objects(result.token_label)
    assert [(k.id, k.has_private, k.has_public, k.key_type) for k in keys] == [
        (result.key_id, True, True, KeyType.EC_P256)]
    assert [c.id for c in leaves] == [result.key_id] and len(authorities) == 2
    cert = x509.load_der_x509_certificate(leaves[0].der)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "张三"
    assert cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == PERSON["id_number"]
    assert identity_extension(leaves[0].der, "1.2.156.10260.4.1.1") == PERSON["id_number"]
    steps = [e.step for e in counter.journal.events(result.enrolment) if e.outcome == "ok"]
    assert [s for s in steps if s in STEPS] == [s for s in STEPS if s != "awaiting-certificate"]
    assert {"token-intent", "key-intent"} <= set(steps)
    actions = [e["action"] for e in counter.audit.entries()]
    assert actions == ["validate", "token-init", "pin-set", "key-generate", "issue", "install", "provision"]
    assert all(e["operator"] == "clerk-7" for e in counter.audit.entries())


def test_organisation_gets_rsa_key_and_credit_code_extension(make_counter: Any) -> None:
    result = make_counter().provision(validated(ORG))
    keys, leaves, _ = holder_objects(result.token_label)
    assert [k.key_type for k in keys] == [KeyType.RSA2048]
    cert = x509.load_der_x509_certificate(leaves[0].der)
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == ORG["name"]
    assert identity_extension(leaves[0].der, "1.2.156.10260.4.4") == ORG["credit_code"]
    with pytest.raises(x509.ExtensionNotFound):
        identity_extension(leaves[0].der, "1.2.156.10260.4.1.1")


def test_name_with_dn_special_characters_stays_one_value(make_counter: Any) -> None:
    result = make_counter().provision(validated(PERSON_2))
    _, leaves, _ = holder_objects(result.token_label)
    cert = x509.load_der_x509_certificate(leaves[0].der)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Li, Si"


def test_rerun_never_provisions_a_holder_twice(make_counter: Any) -> None:
    from sitoken.discovery import list_tokens

    first = make_counter().provision(validated(PERSON))
    before = [t.serial for t in list_tokens()]
    again = make_counter().provision(validated(PERSON))
    assert again.already_done and again.enrolment == first.enrolment
    assert again.token_serial == first.token_serial
    assert [t.serial for t in list_tokens()] == before
    assert len(make_counter().journal.enrolments(PERSON["id_number"])) == 1


def test_weak_holder_pin_is_refused_before_the_token_and_the_enrolment_resumes(make_counter: Any) -> None:
    counter = make_counter(holder_pin="12345678")
    with pytest.raises(PinPolicyError):
        counter.provision(validated(PERSON))
    stuck = counter.journal.open_enrolment(PERSON["id_number"])
    assert stuck is not None and stuck.state == "token-ready" and "policy" in (stuck.last_error or "")
    assert "12345678" not in (stuck.last_error or "")
    status = open_token(stuck.token_label).pin_status()
    assert not status.initialized  # nothing reached the token
    done = make_counter().provision(validated(PERSON))
    assert done.state == "done" and done.enrolment == stuck.id and done.token_serial == stuck.token_serial


def test_file_handoff_waits_for_the_ca_then_completes(make_counter: Any, bed: Bed, tmp_path: Path) -> None:
    real_ca = LocalCA.init(tmp_path / "real-ca")
    outbox = tmp_path / "outbox"
    issuer = FileHandoffIssuer(outbox, trust=[real_ca.chain[-1]])
    waiting = make_counter(issuer=issuer).provision(validated(PERSON))
    assert waiting.state == "awaiting-certificate" and waiting.certificate_serial is None
    request = Path(waiting.handoff or "")
    assert request.parent == outbox and request.read_bytes().startswith(b"-----BEGIN CERTIFICATE REQUEST")
    _, leaves, _ = holder_objects(waiting.token_label)
    assert leaves == []
    assert make_counter(issuer=issuer).provision(validated(PERSON)).state == "awaiting-certificate"
    leaf, chain = real_ca.issue(request.read_bytes(), days=365)
    done = make_counter(issuer=issuer).complete(to_pem([leaf, *chain]))
    assert done.state == "done" and done.enrolment == waiting.enrolment
    _, leaves, _ = holder_objects(done.token_label)
    assert [c.der for c in leaves] == [leaf]
    with pytest.raises(InvalidInput):
        make_counter(issuer=issuer).complete(to_pem([leaf, *chain]))  # nothing waits for it any more


def test_default_profiles_can_be_replaced_per_ca(make_counter: Any, bed: Bed) -> None:
    from sitoken.provisioning.issuers import LocalCAIssuer

    issuer = LocalCAIssuer(bed.ca)
    profile = json.loads((Path(__file__).parents[2] / "src/sitoken/provisioning/profiles/default.json").read_text())
    profile["profiles"]["personal"]["subject"] = [["CN", "051@{name}@Z{id_number}@1"], ["OU", "Individual-1"],
                                                  ["C", "CN"]]
    profile["profiles"]["personal"]["validity_days"] = 730
    (bed.ca / "profiles.json").write_text(json.dumps(profile), encoding="utf-8")
    from sitoken.provisioning.profiles import load_profiles

    counter = make_counter(issuer=issuer)
    counter.profiles = load_profiles(ca_directory=bed.ca)
    result = counter.provision(validated(PERSON))
    _, leaves, _ = holder_objects(result.token_label)
    cert = x509.load_der_x509_certificate(leaves[0].der)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == f"051@张三@Z{PERSON['id_number']}@1"
    days = (cert.not_valid_after_utc - cert.not_valid_before_utc).days
    assert 729 <= days <= 731


def test_result_and_errors_never_carry_the_pin(make_counter: Any) -> None:
    result = make_counter().provision(validated(PERSON))
    assert HOLDER_PIN not in repr(result) and HOLDER_PIN not in json.dumps(result.to_dict())
