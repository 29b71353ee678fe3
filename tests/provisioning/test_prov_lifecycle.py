"""Renewal, loss report, reissue and counter PIN reset on SoftHSM, each journalled and audited."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from prov_support import HOLDER_PIN, NEW_PIN, PERSON, Bed, open_by_label, validated

from sitoken.certs.ontoken import token_certificates
from sitoken.discovery import open_token
from sitoken.errors import InvalidInput, PinIncorrect
from sitoken.pin import Pin
from sitoken.provisioning import lifecycle

KEY = PERSON["id_number"]


def leaves_and_keys(label: str, pin: str = HOLDER_PIN) -> tuple[list[str], list[str]]:
    token = open_by_label(label, pin)
    try:
        return sorted(c.id for c in token_certificates(token) if not c.authority), sorted(k.id for k in token.keys())
    finally:
        token.close()


def test_renew_keeps_the_old_certificate_unless_asked(make_counter: Any) -> None:
    first = make_counter().provision(validated(PERSON))
    renewed = lifecycle.renew(make_counter(), KEY)
    assert renewed.purpose == "renew" and renewed.state == "done"
    assert renewed.token_serial == first.token_serial and renewed.key_id != first.key_id
    assert leaves_and_keys(first.token_label) == (sorted([first.key_id, renewed.key_id]),) * 2
    journal = make_counter().journal
    assert journal.enrolment(first.enrolment).state == "superseded"
    assert journal.enrolment(renewed.enrolment).replaces == first.enrolment
    assert journal.current(KEY).id == renewed.enrolment  # type: ignore[union-attr]
    again = lifecycle.renew(make_counter(), KEY, remove_old=True)
    # Only the certificate it replaces goes; the first one was kept by the earlier renewal's choice.
    kept = sorted([first.key_id, again.key_id])
    assert leaves_and_keys(first.token_label) == (kept, kept)


def test_renew_refuses_a_holder_that_was_never_provisioned(make_counter: Any) -> None:
    make_counter().provision(validated(PERSON))
    with pytest.raises(InvalidInput):
        lifecycle.find_subject(make_counter(), "440305200002292462")
    assert lifecycle.find_subject(make_counter(), " 110105199003071239 ") == KEY


def test_report_loss_wipes_the_token_requests_revocation_and_reissue_links_old_to_new(
        make_counter: Any, bed: Bed) -> None:
    first = make_counter().provision(validated(PERSON))
    report = lifecycle.report_loss(make_counter(), KEY, revocations=bed.root / "revocations")
    assert report.token_present and report.destroyed
    request = json.loads(Path(report.revocation_request).read_text())
    assert request["certificate_serial"] == first.certificate_serial and request["reason"] == "lost"
    assert oct(Path(report.revocation_request).stat().st_mode & 0o777) == "0o600"
    wiped = open_token(first.token_label)
    assert wiped.keys() == [] and wiped.certificates() == []  # type: ignore[attr-defined]
    assert not wiped.pin_status().initialized
    wiped.close()
    with pytest.raises(InvalidInput, match="reported lost"):
        make_counter().provision(validated(PERSON))
    new = lifecycle.reissue(make_counter(), KEY)
    assert new.purpose == "reissue" and new.state == "done" and new.token_serial != first.token_serial
    journal = make_counter().journal
    assert journal.enrolment(new.enrolment).replaces == first.enrolment
    assert journal.enrolment(first.enrolment).state == "lost"
    assert leaves_and_keys(new.token_label) == ([new.key_id], [new.key_id])
    assert make_counter().provision(validated(PERSON)).already_done


def test_report_loss_without_so_pin_deletes_the_holders_objects(make_counter: Any, bed: Bed) -> None:
    first = make_counter().provision(validated(PERSON))
    report = lifecycle.report_loss(make_counter(so_pin=None), KEY, reason="damaged", revocations=bed.root / "r")
    assert report.destroyed
    assert leaves_and_keys(first.token_label) == ([], [])


def test_reissue_needs_a_loss_report_first(make_counter: Any) -> None:
    make_counter().provision(validated(PERSON))
    with pytest.raises(InvalidInput, match="not lost"):
        lifecycle.reissue(make_counter(), KEY)


def test_counter_pin_reset_is_journalled_and_audited(make_counter: Any) -> None:
    first = make_counter().provision(validated(PERSON))
    counter = make_counter()
    record = lifecycle.reset_pin(counter, KEY, Pin(NEW_PIN))
    assert record.token_serial == first.token_serial
    token = open_token(first.token_label)
    with pytest.raises(PinIncorrect):
        token.login(Pin(HOLDER_PIN))
    token.login(Pin(NEW_PIN))
    token.close()
    assert [e.step for e in counter.journal.events(first.enrolment)][-1] == "pin-reset"
    entry = counter.audit.entries()[-1]
    assert entry["action"] == "pin-reset" and entry["outcome"] == "ok"
    assert entry["token"] == {"label": first.token_label, "serial": first.token_serial}


def test_pin_reset_enforces_the_policy_before_the_token(make_counter: Any) -> None:
    first = make_counter().provision(validated(PERSON))
    with pytest.raises(InvalidInput):
        lifecycle.reset_pin(make_counter(), KEY, Pin("111111"))
    open_by_label(first.token_label).close()  # the old PIN still works


def test_report_loss_after_renewal_requests_revocation_of_the_superseded_certificate_too(
        make_counter: Any, bed: Bed) -> None:
    first = make_counter().provision(validated(PERSON))
    renewed = lifecycle.renew(make_counter(), KEY)  # without --remove-old: both keys stay on the token
    report = lifecycle.report_loss(make_counter(), KEY, revocations=bed.root / "revocations")
    assert [(r.certificate_serial, r.state) for r in report.revocations] == [
        (renewed.certificate_serial, "done"), (first.certificate_serial, "superseded")]
    for revocation in report.revocations:
        request = json.loads(Path(revocation.request).read_text())
        assert request["certificate_serial"] == revocation.certificate_serial and request["reason"] == "lost"
    assert report.to_dict()["revocations"][1]["certificate_serial"] == first.certificate_serial
    journal = make_counter().journal
    lost = [e for e in journal.events(renewed.enrolment) if e.step == "lost"]
    assert lost[-1].detail["revoked"] == [renewed.certificate_serial, first.certificate_serial]
    audit = make_counter().audit.entries()[-1]
    assert audit["action"] == "report-loss" and audit["revoke"] == lost[-1].detail["revoked"]
