"""The counter workflow on the OpenPGP card in the bed's PC/SC reader: library, CLI, rerun, crash and resume.

The card is "the token" (``pcsc:READER``): counter mode resets it with the counter's SO PIN (the
card's admin PIN, which stays), sets the holder's PIN with it, generates the RSA-2048 key in the
"sig" slot and writes the certificate under the admin login, and signs as the holder.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.x509.oid import NameOID
from testbed.pcsc_bed import PcscBed

from cli_support import Outcome
from sitoken.certs import LocalCA
from sitoken.certs.ontoken import TokenSigner
from sitoken.errors import NotSupported, TokenError
from sitoken.pcsc import send_apdus
from sitoken.pin import Pin
from sitoken.provisioning.lifecycle import renew
from sitoken.provisioning.workflow import CRASH_ENV
from sitoken.signing.cms import sign_cms, verify_cms
from sitoken.token import KeyType

SO_PIN = "counter-so-2468"  # the counter's admin PIN on its cards (not the factory 12345678)
HOLDER_PIN = "hold3r9pin"
PINS = {"SO_PIN": SO_PIN, "HOLDER_PIN": HOLDER_PIN}
PERSON = {"kind": "personal", "name": "Zhang San", "id_number": "110105199003071239", "mobile": "13800138000"}
OPENPGP_SELECT = bytes.fromhex("00A4040006D27600012401")
GET_PRIVATE_DO_3 = bytes.fromhex("00CA010300")  # readable only while PW1 (82) is verified
CHILD_TIMEOUT = 60  # seconds for one `python -m sitoken` run on the card

FACTORY_ADMIN_PIN = "12345678"  # a fresh emulated card's admin PIN (tests/pcsc/conftest.py)


@dataclass(frozen=True)
class CardState:
    """Everything a provisioning run may change on the card."""

    keys: tuple[tuple[str, str, KeyType | None, str], ...]  # label, id, type, fingerprint
    certificates: tuple[bytes, ...]
    label: str
    pin_tries: int
    admin_tries: int


@pytest.fixture()
def reader(pcsc_bed: PcscBed, card: Path) -> str:
    """A blank card whose admin PIN is the counter's SO PIN, as a counter keeps its cards."""
    from sitoken.pcsc.openpgp import OpenPgpCard

    name = pcsc_bed.reader_name(0)
    with OpenPgpCard.open(name) as token:
        token.change_so_pin(Pin(FACTORY_ADMIN_PIN), Pin(SO_PIN))
    return name


def card_state(reader: str) -> CardState:
    from sitoken.pcsc.openpgp import OpenPgpCard

    with OpenPgpCard.open(reader) as token:
        info = token.info()
        keys = tuple((k.label, k.id, k.key_type, k.extra.get("fingerprint", "")) for k in token.keys())
        certs = tuple(c.der for c in token.certificates())
        return CardState(keys, certs, info.label, info.pin.remaining or 0, info.so_pin.remaining or 0)


def check_provisioned(reader: str, ca_dir: Path, journal: Path) -> CardState:
    """One RSA key in "sig", the journalled certificate for it, PW1 3 tries, a CMS round trip to the root."""
    from sitoken.pcsc.openpgp import OpenPgpCard

    db = sqlite3.connect(journal)
    try:
        rows = db.execute("SELECT state, key_label, key_id, certificate, token_label FROM enrolments").fetchall()
    finally:
        db.close()
    assert [(r[0], r[1], r[2]) for r in rows] == [("done", "sig", "01")]
    leaf, label = rows[0][3], rows[0][4]
    state = card_state(reader)
    assert [(k[0], k[1], k[2]) for k in state.keys] == [("sig", "01", KeyType.RSA2048)]
    assert state.certificates == (leaf,)  # the holder's certificate only (the card keeps no CA certificates)
    assert state.label == label and state.pin_tries == 3 and state.admin_tries == 3
    # The run logged out: a card keeps verified PINs after its reader connection closes.
    assert [e.sw for e in send_apdus(reader, [OPENPGP_SELECT, GET_PRIVATE_DO_3])] == [0x9000, 0x6982]  # PW1 (82)
    with OpenPgpCard.open(reader) as token:
        with pytest.raises(TokenError) as refused:
            token.delete_certificate()  # PUT DATA needs PW3
        assert refused.value.sw == 0x6982
    cert = x509.load_der_x509_certificate(leaf)
    assert cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == PERSON["id_number"]
    ca = LocalCA.open(ca_dir)
    document = b"social insurance record 2026-001"
    with OpenPgpCard.open(reader) as token:
        token.login(Pin(HOLDER_PIN))  # the holder's PIN works ...
        signature = sign_cms(TokenSigner(token, "sig"), leaf, document, chain=ca.chain)
    checked = verify_cms(signature, document, trust=[ca.chain[-1]], at=datetime.now(timezone.utc))
    assert checked.path[0] == leaf
    assert card_state(reader).pin_tries == 3  # ... and spent no try
    return state


def make_counter(tmp: Path, reader: str) -> Any:
    from sitoken.provisioning.audit import AuditLog
    from sitoken.provisioning.holder_pins import FixedPin
    from sitoken.provisioning.issuers import LocalCAIssuer
    from sitoken.provisioning.journal import Journal
    from sitoken.provisioning.workflow import Counter

    state = tmp / "state"
    return Counter(Journal(state / "journal.sqlite", operator="clerk-7"), AuditLog(state / "audit.jsonl", "clerk-7"),
                   LocalCAIssuer(state / "local-ca"), holder_pins=FixedPin(Pin(HOLDER_PIN)), so_pin=Pin(SO_PIN),
                   token=f"pcsc:{reader}", on=date.today())


def validated_person() -> Any:
    from sitoken.provisioning.applicant import applicant_from_dict, validate

    return validate(applicant_from_dict(PERSON), on=date.today())


def test_counter_provisions_a_holder_onto_the_card(reader: str, tmp_path: Path) -> None:
    counter = make_counter(tmp_path, reader)
    try:
        result = counter.provision(validated_person())
        assert (result.state, result.key_label, result.key_id) == ("done", "sig", "01")
        assert result.token_serial == "00000001" and result.token_label.startswith(f"SI-{result.enrolment:06d}-")
        assert any("prefers ec-p256" in note for note in result.notes)  # the profile's fallback, said
        steps = {e.step: e.detail for e in counter.journal.events(result.enrolment)}
        assert steps["key-intent"]["key_type"] == steps["key-ready"]["key_type"] == "rsa2048"
        actions = [e["action"] for e in counter.audit.entries()]
        assert actions == ["validate", "token-init", "pin-set", "key-generate", "issue", "install", "provision"]
    finally:
        counter.journal.close()
    state = tmp_path / "state"
    before = check_provisioned(reader, state / "local-ca", state / "journal.sqlite")
    audit = (state / "audit.jsonl").read_text(encoding="utf-8") + json.dumps(result.to_dict())
    assert SO_PIN not in audit and HOLDER_PIN not in audit

    again = make_counter(tmp_path, reader)
    try:
        rerun = again.provision(validated_person())
        assert rerun.already_done and rerun.enrolment == result.enrolment
    finally:
        again.journal.close()
    assert card_state(reader) == before  # nothing touched: same key, certificate, label, counters

    renewing = make_counter(tmp_path, reader)
    try:  # one key slot: a renewal would overwrite the key in use, so it is refused before anything
        with pytest.raises(NotSupported, match="one signature key slot"):
            renew(renewing, PERSON["id_number"])
        assert len(renewing.journal.enrolments(PERSON["id_number"])) == 1
    finally:
        renewing.journal.close()
    assert card_state(reader) == before


# --- the CLI ---------------------------------------------------------------------------------------


def cli_args(tmp: Path, reader: str, *extra: str) -> list[str]:
    applicant = tmp / "zhang.json"
    applicant.write_text(json.dumps(PERSON), encoding="utf-8")
    return ["provision", "--applicant", str(applicant), "--token", f"pcsc:{reader}", "--so-pin-env", "SO_PIN",
            "--holder-pin-env", "HOLDER_PIN", *extra]


def cli(tmp: Path, args: list[str]) -> Outcome:
    from sitoken.cli import cli as group

    env = {**PINS, "SITOKEN_STATE_DIR": str(tmp / "state")}
    result = CliRunner().invoke(group, args, env=env)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Outcome(result.exit_code, result.stdout, result.stderr)


def test_cli_provisions_the_card_and_a_rerun_touches_nothing(reader: str, tmp_path: Path) -> None:
    state = tmp_path / "state"
    refused = cli(tmp_path, cli_args(tmp_path, reader))  # erasing the card needs --force without a terminal
    assert refused.code != 0 and "--force" in refused.err
    assert card_state(reader).keys == ()
    done = cli(tmp_path, cli_args(tmp_path, reader, "--force", "--json"))
    assert done.code == 0, done.err
    assert (done.json()["state"], done.json()["key_label"]) == ("done", "sig")
    assert SO_PIN not in done.out + done.err and HOLDER_PIN not in done.out + done.err
    before = check_provisioned(reader, state / "local-ca", state / "journal.sqlite")
    again = cli(tmp_path, cli_args(tmp_path, reader))  # no --force: nothing will be erased
    assert again.code == 0, again.err
    assert "already provisioned" in again.out
    assert card_state(reader) == before


# Hook points (workflow.CrashHook), counted from 1 in a run: 6 pin-set journalled, 8 key:after,
# 13 issued journalled, 15 install:after. After 6 and 13 a fresh process must log the admin in itself
# to generate the key or write the certificate; after 8 and 15 it must adopt what the card holds.
@pytest.mark.parametrize(("crash_at", "reconciled"), [
    (6, None),
    (8, "key 01 was generated before the journal recorded it: adopted"),
    (13, None),
    (15, "the certificate was installed before the journal recorded it: adopted"),
])
def test_killed_provisioning_resumes_on_the_card(
    reader: str, tmp_path: Path, crash_at: int, reconciled: str | None, pcsc_bed: PcscBed, card: Path
) -> None:
    import os

    env = {**os.environ, **PINS, "SITOKEN_STATE_DIR": str(tmp_path / "state"), CRASH_ENV: str(crash_at)}
    killed = subprocess.run([sys.executable, "-m", "sitoken", *cli_args(tmp_path, reader, "--force")],
                            env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    # The clerk pulls the card and puts it back: it keeps its data, and forgets the PINs the dead run verified.
    pcsc_bed.remove_card(0)
    pcsc_bed.insert_card(0, image=card)
    unfinished = cli(tmp_path, cli_args(tmp_path, reader, "--force"))
    assert unfinished.code == 13  # an unfinished enrolment needs --resume
    resumed = cli(tmp_path, cli_args(tmp_path, reader, "--resume", "--force"))
    assert resumed.code == 0, resumed.err
    assert (reconciled in resumed.out) if reconciled else ("adopted" not in resumed.out)
    state = tmp_path / "state"
    check_provisioned(reader, state / "local-ca", state / "journal.sqlite")  # exactly one key and certificate
    issued = list((state / "local-ca" / "issued").glob("*.pem"))
    assert len(issued) == 1  # the CA issued once


def test_loss_report_on_the_card_needs_the_so_pin_to_wipe_it(reader: str, tmp_path: Path) -> None:
    """A card deletes no key: without the SO PIN the loss is journalled and the card left as it is."""
    from sitoken.provisioning.lifecycle import report_loss

    counter = make_counter(tmp_path, reader)
    try:
        counter.provision(validated_person())
    finally:
        counter.journal.close()
    before = card_state(reader)

    no_so = make_counter(tmp_path, reader)
    no_so.so_pin = None
    try:
        report = report_loss(no_so, PERSON["id_number"], revocations=tmp_path / "revocations")
        assert report.token_present and not report.destroyed
        assert report.not_destroyed_because and "SO PIN" in report.not_destroyed_because
        (live,) = no_so.journal.enrolments(PERSON["id_number"])
        assert live.state == "lost"
    finally:
        no_so.journal.close()
    assert card_state(reader) == before
    assert Path(report.revocation_request).exists()


def test_provisioning_one_holder_costs_at_most_30_apdus(pcsc_bed: PcscBed, reader: str, tmp_path: Path) -> None:
    # Counted at the card (the bed's log): init, PIN, key, CSR, certificate, the sign/verify round trip.
    counter = make_counter(tmp_path, reader)
    mark = pcsc_bed.apdu_mark(0)
    try:
        assert counter.provision(validated_person()).state == "done"
    finally:
        counter.journal.close()
    headers = [record.header for record in pcsc_bed.apdus(0, mark)]
    # The emulator generates keys in a background pool and may answer a GENERATE with 6F00
    # ("key not ready"), which the driver retries: a retry is the bed's cost, not sitoken's.
    generate = "00 47 80 00"
    counted = [h for i, h in enumerate(headers) if not (h == generate and headers[i - 1] == generate)]
    assert len(counted) <= 30, f"{len(counted)}: " + " | ".join(counted)
    assert "00 20 00 82" not in counted  # PW1 in the signing mode only
