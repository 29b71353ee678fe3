"""The CLI on the real PC/SC bed: readers, watch, apdu, and the token commands on a card."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from testbed.pcsc_bed import PcscBed

from cli_support import Outcome, invoke
from sitoken.cli import exitcodes

PINS = {"PIN": "123456", "ADMIN": "12345678", "BAD": "999999", "NEW": "Hold3r99"}
OPENPGP_SELECT = "00A4040006D27600012401"
VERIFY_PW1 = "0020008106" + b"123456".hex()




Cli = Callable[..., Outcome]


@pytest.fixture()
def cli(pcsc_bed: PcscBed) -> Cli:
    """The CLI in-process; the bed already pointed this process at its pcscd."""

    def run(*args: str) -> Outcome:
        return invoke(list(args), PINS)

    return run


@pytest.fixture()
def reader(pcsc_bed: PcscBed, card: Path) -> str:
    return pcsc_bed.reader_name(0)


def test_readers_json_lists_card_and_atr(cli: Cli, reader: str, pcsc_bed: PcscBed) -> None:
    done = cli("readers", "--json")
    assert done.code == 0, done.err
    by_name = {r["reader"]: r for r in done.json()}
    first, second = by_name[reader], by_name[pcsc_bed.reader_name(1)]
    assert first["present"] and first["atr"].startswith("3bda11ff")
    assert first["card"] == "OpenPGP card (python emulator)"
    assert (second["present"], second["atr"], second["card"]) == (False, None, None)
    assert sorted(r["index"] for r in by_name.values()) == list(range(len(by_name)))


def test_watch_json_sees_remove_then_insert(cli: Cli, reader: str, pcsc_bed: PcscBed, card: Path) -> None:
    def swap() -> None:
        time.sleep(0.5)
        pcsc_bed.remove_card(0)
        pcsc_bed.insert_card(0, image=card)

    worker = threading.Thread(target=swap)
    worker.start()
    done = cli("watch", "--json", "--no-initial", "--count", "2", "--timeout", "20")
    worker.join(20)
    assert done.code == 0, done.err
    events = [json.loads(line) for line in done.out.splitlines()]
    assert [(e["event"], e["reader"]) for e in events] == [("card-removed", reader), ("card-inserted", reader)]
    assert set(events[1]) == {"event", "reader", "atr", "card", "time"}
    assert events[1]["card"] == "OpenPGP card (python emulator)"


def test_watch_ends_cleanly_on_ctrl_c(reader: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "sitoken", "watch", "--json", "--timeout", "30"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ),
    )
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())  # the initial events prove it is watching
        assert first["event"] == "reader-added"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == exitcodes.OK, err
    assert "Traceback" not in err
    assert all(json.loads(line)["event"] for line in out.splitlines())


def test_pin_lockout_guard_and_reset_through_the_cli(cli: Cli, reader: str) -> None:
    token = ("--token", f"pcsc:{reader}")
    status = cli("pin", "status", *token, "--json").json()
    assert (status["user"]["remaining"], status["so"]["remaining"]) == (3, 3)
    attempt = (*token, "sign", "--key", "sig", "--in", "-", "--out", "-", "--pin-env", "BAD")
    assert [cli(*attempt).code for _ in range(2)] == [exitcodes.PIN_INCORRECT] * 2
    assert cli("pin", "status", *token, "--json").json()["user"]["state"] == "final-try"
    assert cli(*attempt).code == exitcodes.PIN_FINAL_TRY  # nothing sent
    assert cli("pin", "status", *token, "--json").json()["user"]["remaining"] == 1
    assert cli(*attempt, "--allow-final-try").code == exitcodes.PIN_LOCKED
    locked = cli("pin", "status", "--token", "00000001", "--json").json()["user"]  # by card serial
    assert (locked["state"], locked["remaining"]) == ("locked", 0)
    reset = cli("pin", "reset", *token, "--so-pin-env", "ADMIN", "--new-pin-env", "NEW")
    assert reset.code == 0, reset.err
    assert cli("pin", "status", "--token", "pcsc:PCD 00 00", "--json").json()["user"]["remaining"] == 3


def test_pkcs12_import_onto_the_card_is_refused_before_anything_is_asked(cli: Cli, reader: str,
                                                                          tmp_path: Path) -> None:
    """An OpenPGP card generates its own keys: `key import` says so, reads neither the file nor a
    password nor a PIN (the file does not exist and the variables are unset), and tries no PIN."""
    token = ("--token", f"pcsc:{reader}")
    done = cli("key", "import", str(tmp_path / "never-read.p12"), *token, "--label", "sig",
               "--password-env", "UNSET_P12_PASSWORD", "--pin-env", "UNSET_PIN", "--json")
    assert done.code == exitcodes.NOT_SUPPORTED, done.err
    report = done.json()
    assert report["error"] == "not-supported" and report["exit_code"] == exitcodes.NOT_SUPPORTED
    assert "cannot take a private key from outside" in report["message"] and "key generate" in report["message"]
    status = cli("pin", "status", *token, "--json").json()
    assert (status["user"]["remaining"], status["so"]["remaining"]) == (3, 3)
    assert cli("key", "list", *token, "--json").json() == []


def test_key_generate_sign_verify_on_the_card(cli: Cli, reader: str, tmp_path: Path) -> None:
    token = ("--token", f"pcsc:{reader}")
    gen = cli("key", "generate", *token, "--type", "rsa2048", "--label", "sig", "--so-pin-env", "ADMIN", "--json")
    assert gen.code == 0, gen.err
    assert (gen.json()["label"], gen.json()["type"]) == ("sig", "rsa2048")
    doc, sig = tmp_path / "doc.txt", tmp_path / "doc.sig"
    doc.write_bytes(b"counter record 42")
    signed = cli("sign", *token, "--key", "sig", "--in", str(doc), "--out", str(sig), "--pin-env", "PIN")
    assert signed.code == 0, signed.err
    assert cli("verify", *token, "--key", "sig", "--in", str(doc), "--sig", str(sig)).code == 0
    doc.write_bytes(b"counter record 43")
    assert cli("verify", *token, "--key", "sig", "--in", str(doc), "--sig", str(sig)).code == 1


def test_apdu_get_data_and_pin_redaction(cli: Cli, reader: str) -> None:
    done = cli("apdu", "--reader", reader, "--json", OPENPGP_SELECT, "00CA006E00")
    assert done.code == 0, done.err
    select, get_data = done.json()["exchanges"]
    assert select["sw"] == get_data["sw"] == "9000"
    assert "4F10D2760001240103" in get_data["response"]  # the AID inside DO 6E
    verify = cli("apdu", "--reader", "PCD 00 00", OPENPGP_SELECT, VERIFY_PW1)
    assert verify.code == 0, verify.err
    assert "<6 bytes redacted>" in verify.out and "31 32 33" not in verify.out and "313233" not in verify.out
    refused = cli("apdu", "--reader", "0", "--json", OPENPGP_SELECT, "00000000", OPENPGP_SELECT)
    exchanges = refused.json()["exchanges"]
    assert [e["sw"] for e in exchanges] == ["9000", "6D00"]  # stopped at the refusal
    assert refused.code == exitcodes.NOT_SUPPORTED  # 6D00: instruction not supported


def test_apdu_rejects_bad_hex_and_pcsc_commands_say_when_pyscard_is_missing(
    cli: Cli, reader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("apdu", "--reader", reader, "00CA0").code == exitcodes.INVALID_INPUT
    assert cli("apdu", "--reader", reader, "00CA006E05FF").code == exitcodes.INVALID_INPUT
    assert cli("apdu", "--reader", "no such reader", "00CA006E00").code == exitcodes.TOKEN_NOT_FOUND
    monkeypatch.setattr("sitoken.pcsc.available", lambda: False)
    done = cli("readers")
    assert done.code == exitcodes.MODULE_ERROR and "pyscard" in done.err
