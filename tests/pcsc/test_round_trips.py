"""Round trips counted at the card: what one command costs, from the bed's own APDU log.

Counts are deterministic (the same commands give the same APDUs), so they are asserted;
times are not (``sitoken bench --card`` measures them). docs/pcsc.md lists the figures.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from testbed.pcsc_bed import PcscBed

from pcsc_support import FACTORY_ADMIN_PIN, FACTORY_PIN
from sitoken.errors import PinIncorrect
from sitoken.pcsc import send_apdus
from sitoken.pcsc.openpgp import OpenPgpCard
from sitoken.pin import Pin
from skf_bed import self_signed_certificate

PINS = {"PIN": FACTORY_PIN, "ADMIN": FACTORY_ADMIN_PIN}
SELECT_APP = "00 A4 04 00"
GET_6E = "00 CA 00 6E"
VERIFY_81 = "00 20 00 81"
PSO_CDS = "00 2A 9E 9A"


def _cli_run(bed: PcscBed, *args: str) -> tuple[str, list[str]]:
    """The CLI in-process on the card in reader 0: its output, and the APDUs the card received."""
    from sitoken.cli import cli

    mark = bed.apdu_mark(0)
    done = CliRunner().invoke(cli, [*args, "--token", f"pcsc:{bed.reader_name(0)}"], env=PINS)
    assert done.exit_code == 0, done.stderr
    return done.stdout, [record.header for record in bed.apdus(0, mark)]


def _cli_headers(bed: PcscBed, *args: str) -> list[str]:
    return _cli_run(bed, *args)[1]


def test_pin_status_reads_the_application_data_once(pcsc_bed: PcscBed, card: Path) -> None:
    # DO 6E carries the PW status: nothing verified, so nothing to log out either.
    assert _cli_headers(pcsc_bed, "pin", "status") == [SELECT_APP, GET_6E]


def test_one_sign_process_is_select_read_verify_sign(pcsc_bed: PcscBed, keyed: OpenPgpCard, tmp_path: Path) -> None:
    keyed.close()
    (tmp_path / "doc").write_bytes(b"record 1")
    headers = _cli_headers(pcsc_bed, "sign", "--key", "sig", "--in", str(tmp_path / "doc"),
                           "--out", str(tmp_path / "sig"), "--pin-env", "PIN")
    # PW1 in mode 81 only (82 is for deciphering); the signature spent it, so no logout.
    assert headers == [SELECT_APP, GET_6E, VERIFY_81, PSO_CDS]


def test_steady_state_signing_is_verify_and_sign(pcsc_bed: PcscBed, keyed: OpenPgpCard) -> None:
    with Pin(FACTORY_PIN) as pin:
        keyed.login(pin)
    keyed.sign("sig", b"first")
    mark = pcsc_bed.apdu_mark(0)
    signatures = [keyed.sign("sig", f"record {i}".encode()) for i in range(5)]
    # The emulator keeps PW1 valid for one signature: VERIFY 81 + PSO, nothing read again.
    assert [r.header for r in pcsc_bed.apdus(0, mark)] == [VERIFY_81, PSO_CDS] * 5
    assert all(keyed.verify("sig", f"record {i}".encode(), s) for i, s in enumerate(signatures))


def test_close_logs_out_only_what_was_verified(pcsc_bed: PcscBed, keyed: OpenPgpCard) -> None:
    with Pin(FACTORY_ADMIN_PIN) as admin:
        keyed.login_admin(admin)
    mark = pcsc_bed.apdu_mark(0)
    keyed.close()
    assert [r.header for r in pcsc_bed.apdus(0, mark)] == ["00 20 FF 83"]


def test_a_wrong_pin_reads_the_counter_again_once(pcsc_bed: PcscBed, keyed: OpenPgpCard) -> None:
    assert keyed.pin_status().remaining == 3
    mark = pcsc_bed.apdu_mark(0)
    with Pin("999999") as wrong, pytest.raises(PinIncorrect):
        keyed.login(wrong)
    # The emulator answers 6982, not 63Cx: the counter is read back (C4 alone, 7 bytes).
    assert [r.header for r in pcsc_bed.apdus(0, mark)] == [VERIFY_81, "00 CA 00 C4"]
    assert keyed.pin_status().remaining == 2  # not the 3 read before the try
    assert pcsc_bed.apdu_mark(0) == mark + 2  # ... and remembered since


def _certificate_at(reader: str, occurrence: int) -> bytes:
    select_app = bytes.fromhex("00A4040006D27600012401")
    select_data = bytes.fromhex(f"00A5{occurrence:02X}0406" + "6004" + "5C027F21")
    get = bytes.fromhex("00CA7F21000000")  # extended Le 0000: all of it
    *_, answer = send_apdus(reader, [select_app, select_data, get])
    assert answer.ok, answer.to_dict()
    return answer.data


def test_the_certificate_goes_to_the_signature_key_occurrence(
    pcsc_bed: PcscBed, keyed: OpenPgpCard, tmp_path: Path,
) -> None:
    from sitoken.certs import LocalCA, build_csr
    from sitoken.certs.ontoken import TokenSigner

    with Pin(FACTORY_PIN) as pin:
        keyed.login(pin)
    leaf, _ = LocalCA.init(tmp_path / "ca").issue(build_csr(TokenSigner(keyed, "sig"), "CN=Holder,C=CN"), days=30)
    with Pin(FACTORY_ADMIN_PIN) as admin:
        keyed.login_admin(admin)
    mark = pcsc_bed.apdu_mark(0)
    keyed.import_certificate(leaf, label="sig", key_id=b"\x01")
    assert [r.header for r in pcsc_bed.apdus(0, mark)] == ["00 A5 02 04", "00 DA 7F 21"]
    keyed.close()
    reader = pcsc_bed.reader_name(0)
    # Occurrence 2 is the SIG key's (OpenPGP card 3.x); 0 (AUT) and 1 (DEC) stay empty.
    assert [_certificate_at(reader, n) for n in (0, 1, 2)] == [b"", b"", leaf]
    with OpenPgpCard.open(reader) as again:
        assert again.read_certificate() == leaf


def _put_certificate_without_select_data(reader: str, der: bytes) -> None:
    """What sitoken wrote before SELECT DATA: a plain PUT DATA 7F21, which a v3 card keeps in occurrence 0."""
    verify_pw3 = bytes.fromhex("0020008308") + FACTORY_ADMIN_PIN.encode()
    put = bytes.fromhex("00DA7F2100") + len(der).to_bytes(2, "big") + der  # extended Lc
    assert all(e.ok for e in send_apdus(reader, [bytes.fromhex("00A4040006D27600012401"), verify_pw3, put]))


def test_a_certificate_an_older_sitoken_misplaced_is_found_and_moved(pcsc_bed: PcscBed, keyed: OpenPgpCard) -> None:
    reader = pcsc_bed.reader_name(0)
    spki = keyed.public_key_der("sig")
    keyed.close()
    # A certificate for another key in occurrence 0 is the AUT key's business: left alone.
    _put_certificate_without_select_data(reader, self_signed_certificate("stranger"))
    with OpenPgpCard.open(reader) as card:
        assert card.misplaced_certificates() == [] and card.move_misplaced_certificates() == []
    holder = self_signed_certificate("holder", public_key=spki)
    _put_certificate_without_select_data(reader, holder)
    assert [_certificate_at(reader, n) for n in (0, 2)] == [holder, b""]
    found = {"stored_under": "aut", "belongs_to": "sig", "sha256": hashlib.sha256(holder).hexdigest()}
    assert json.loads(_cli_run(pcsc_bed, "doctor", "--json")[0])["misplaced_certificates"] == [found]

    out, headers = _cli_run(pcsc_bed, "cert", "import", "--move-misplaced", "--so-pin-env", "ADMIN", "--json")
    assert json.loads(out) == {"moved": [found]}
    # Found (occurrence 2 empty, 0 holds it), then written to occurrence 2 before 0 is emptied: a card
    # pulled in between keeps a copy.
    found_by = ["00 A5 02 04", "00 CA 7F 21", "00 A5 00 04", "00 CA 7F 21"]
    moved_by = ["00 A5 02 04", "00 DA 7F 21", "00 A5 00 04", "00 DA 7F 21"]
    assert [h for h in headers if h.split()[1] in ("A5", "DA") or h == "00 CA 7F 21"] == found_by + moved_by
    assert [_certificate_at(reader, n) for n in (0, 1, 2)] == [b"", b"", holder]
    assert json.loads(_cli_run(pcsc_bed, "doctor", "--json")[0])["misplaced_certificates"] == []


def test_a_card_keeping_pw1_valid_signs_in_one_apdu(pcsc_bed: PcscBed, keyed: OpenPgpCard) -> None:
    keyed.close()
    reader = pcsc_bed.reader_name(0)
    # PW1 status byte 01: PW1 stays valid for several signatures (PUT DATA C4 under PW3).
    setup = ["00A4040006D27600012401", "0020008308" + FACTORY_ADMIN_PIN.encode().hex(), "00DA00C40101"]
    assert all(e.ok for e in send_apdus(reader, [bytes.fromhex(a) for a in setup]))
    with OpenPgpCard.open(reader) as card:
        assert "pw1-multiple-signatures" in card.info().flags
        with Pin(FACTORY_PIN) as pin:
            card.login(pin)
        card.sign("sig", b"first")
        mark = pcsc_bed.apdu_mark(0)
        for i in range(5):
            card.sign("sig", f"record {i}".encode())
        assert [r.header for r in pcsc_bed.apdus(0, mark)] == [PSO_CDS] * 5
        mark = pcsc_bed.apdu_mark(0)
    # PW1 (81) is still verified at the end, so closing resets it, and only it.
    assert [r.header for r in pcsc_bed.apdus(0, mark)] == ["00 20 FF 81"]
