"""The provisioning commands: batch with bad rows, single provision, journal show, lifecycle, CMS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from prov_support import BAD_CHECK, ORG, PERSON, PERSON_2, TOO_YOUNG, Bed, write_batch

from cli_support import converse
from sitoken.cli import exitcodes

CSV_HEADER = "kind,name,id_number,mobile,card_number,credit_code,agent_name,agent_id_number,agent_authorisation_ref"


def test_batch_skips_bad_rows_names_their_fields_and_provisions_the_rest(prov_cli: Any, bed: Bed) -> None:
    csv = bed.root / "applicants.csv"
    csv.write_bytes("\ufeff".encode() + "\n".join([
        CSV_HEADER,
        "personal,张三,110105199003071239,13800138000,,,,,",
        "personal,Bad Check,110105199003071238,13800138000,,,,,",
        "organisation,某某社保服务有限公司,,,,91350100M000100Y43,赵六,33010619880815101X,AUTH-7",
        f"personal,Too Young,{TOO_YOUNG['id_number']},13800138000,,,,,",
        "personal,Li Si,440305200002292462,+86 138 0013 8000,,,,,",
        "personal,No Phone,320102198511200012,12345,,,,,",
    ]).encode() + b"\n")
    done = prov_cli("batch", str(csv), "--so-pin-env", "SO_PIN", "--generate-pins", str(bed.root / "pins"), "--json")
    assert done.code == exitcodes.BATCH_INCOMPLETE == 15, done.err
    summary = done.json()
    assert summary["counts"] == {"done": 3, "already-done": 0, "awaiting-certificate": 0, "held": 0, "ready": 0,
                                 "unfinished": 0, "invalid": 3, "conflict": 0, "failed": 0}
    invalid = {r["row"]: [(e["field"], e["rule"]) for e in r["errors"]] for r in summary["rows"]
               if r["outcome"] == "invalid"}
    assert invalid == {3: [("id_number", "check-character")], 5: [("id_number", "age")], 7: [("mobile", "format")]}
    labels = [r["token_label"] for r in summary["rows"] if r["outcome"] == "done"]
    assert len(set(labels)) == 3 and all(r["pin_generated"] for r in summary["rows"] if r["outcome"] == "done")
    again = prov_cli("batch", str(csv), "--so-pin-env", "SO_PIN", "--generate-pins", str(bed.root / "pins"))
    assert again.code == 15
    assert "row 3: invalid, skipped (id_number: check character does not match)" in again.out
    assert again.out.count(" already-done (token") == 3 and "3 already-done, 3 invalid" in again.out


def test_batch_of_good_rows_exits_zero_and_a_missing_holder_pin_fails_only_its_row(
        prov_cli: Any, bed: Bed) -> None:
    pins = bed.root / "pins"
    pins.mkdir()
    (pins / f"{PERSON['id_number']}.pin").write_text("hold3r9pin\n")
    (pins / f"{ORG['credit_code']}.pin").write_text("org5pin77k\n")
    for pin_file in pins.iterdir():
        pin_file.chmod(0o600)  # PIN files others can read are refused
    batch = write_batch(bed.root / "b.json", [PERSON, ORG, PERSON_2])
    done = prov_cli("batch", str(batch), "--so-pin-env", "SO_PIN", "--holder-pin-dir", str(pins), "--json")
    assert done.code == 15
    rows = done.json()["rows"]
    assert [r["outcome"] for r in rows] == ["done", "done", "failed"]
    assert "no holder PIN file" in rows[2]["errors"][0]["message"]
    (pins / f"{PERSON_2['id_number']}.pin").write_text("l1si7pin9\n")
    (pins / f"{PERSON_2['id_number']}.pin").chmod(0o600)
    refused = prov_cli("batch", str(batch), "--so-pin-env", "SO_PIN", "--holder-pin-dir", str(pins))
    assert refused.code == exitcodes.JOURNAL_ERROR and "--resume" in refused.err
    resumed = prov_cli("batch", str(batch), "--so-pin-env", "SO_PIN", "--holder-pin-dir", str(pins), "--resume",
                       "--json")
    assert resumed.code == 0, resumed.out
    assert [r["outcome"] for r in resumed.json()["rows"]] == ["already-done", "already-done", "done"]


def test_batch_without_a_holder_pin_source_is_a_usage_error(prov_cli: Any, bed: Bed) -> None:
    batch = write_batch(bed.root / "b.json", [PERSON])
    done = prov_cli("batch", str(batch), "--so-pin-env", "SO_PIN")
    assert done.code == exitcodes.USAGE and "holder PIN" in done.err


def test_provision_one_applicant_then_sign_and_verify_cms(prov_cli: Any, bed: Bed) -> None:
    applicant = bed.root / "zhang.json"
    applicant.write_text(json.dumps(PERSON, ensure_ascii=False), encoding="utf-8")
    done = prov_cli("provision", "--applicant", str(applicant), "--so-pin-env", "SO_PIN",
                    "--holder-pin-env", "HOLDER_PIN", "--json")
    assert done.code == 0, done.err
    result = done.json()
    assert result["state"] == "done" and result["subject"] == "1101**********1239"
    doc, sig = bed.root / "record.txt", bed.root / "record.p7s"
    doc.write_text("contribution confirmed\n")
    signed = prov_cli("sign", "--cms", "--token", result["token_label"], "--key", result["key_label"],
                      "--in", str(doc), "--out", str(sig), "--pin-env", "HOLDER_PIN")
    assert signed.code == 0, signed.err
    root = bed.root / "state" / "local-ca" / "root.pem"
    ok = prov_cli("verify", "--cms", "--in", str(doc), "--sig", str(sig), "--trust", str(root), "--json")
    assert ok.code == 0 and "张三" in ok.json()["signer"]
    doc.write_text("contribution reversed\n")
    bad = prov_cli("verify", "--cms", "--in", str(doc), "--sig", str(sig), "--trust", str(root))
    assert bad.code == exitcodes.SIGNATURE_INVALID
    shown = prov_cli("journal", "show", "--json", "--events")
    assert shown.code == 0
    assert [e["state"] for e in shown.json()["enrolments"]] == ["done"]
    assert "110105199003071239" not in shown.out  # masked


def test_provision_reports_every_invalid_field_and_touches_nothing(prov_cli: Any, bed: Bed) -> None:
    applicant = bed.root / "bad.json"
    applicant.write_text(json.dumps({**BAD_CHECK, "mobile": "12345"}), encoding="utf-8")
    done = prov_cli("provision", "--applicant", str(applicant), "--so-pin-env", "SO_PIN",
                    "--holder-pin-env", "HOLDER_PIN", "--json")
    assert done.code == exitcodes.INVALID_INPUT
    assert [e["field"] for e in done.json()["errors"]] == ["id_number", "mobile"]
    assert not (bed.root / "state" / "journal.sqlite").exists()


def test_lifecycle_commands(prov_cli: Any, bed: Bed) -> None:
    applicant = bed.root / "org.json"
    applicant.write_text(json.dumps(ORG, ensure_ascii=False), encoding="utf-8")
    pin = ("--holder-pin-env", "HOLDER_PIN")
    first = prov_cli("provision", "--applicant", str(applicant), "--so-pin-env", "SO_PIN", *pin, "--json").json()
    renewed = prov_cli("renew", "--applicant-id", ORG["credit_code"].lower(), *pin, "--remove-old", "--json")
    assert renewed.code == 0, renewed.err
    assert renewed.json()["purpose"] == "renew" and renewed.json()["token_serial"] == first["token_serial"]
    reset = prov_cli("provision", "pin-reset", "--applicant-id", ORG["credit_code"], "--so-pin-env", "SO_PIN",
                     "--new-pin-env", "NEW_PIN", "--json")
    assert reset.code == 0, reset.err
    lost = prov_cli("report-loss", "--applicant-id", ORG["credit_code"], "--so-pin-env", "SO_PIN", "--force",
                    "--revocations", str(bed.root / "rev"), "--json")
    assert lost.code == 0, lost.err
    assert lost.json()["destroyed"] and Path(lost.json()["revocation_request"]).exists()
    new = prov_cli("reissue", "--applicant-id", ORG["credit_code"], "--so-pin-env", "SO_PIN", *pin, "--json")
    assert new.code == 0, new.err
    assert new.json()["purpose"] == "reissue" and new.json()["token_serial"] != first["token_serial"]
    shown = prov_cli("journal", "show", "--json").json()["enrolments"]
    assert [(e["purpose"], e["state"]) for e in shown] == [
        ("issue", "superseded"), ("renew", "lost"), ("reissue", "done")]
    audit = [json.loads(line)["action"] for line in (bed.root / "state" / "audit.jsonl").read_text().splitlines()]
    assert {"pin-reset", "report-loss", "renew", "reissue"} <= set(audit)


def test_holder_sets_the_pin_at_a_terminal(tmp_path: Path, softhsm_path: str) -> None:
    """At the counter the holder types the new PIN twice; a weak one is refused at once and asked again."""
    applicant = tmp_path / "zhang.json"
    applicant.write_text(json.dumps(PERSON, ensure_ascii=False))
    env = {k: v for k, v in os.environ.items() if k not in ("SOFTHSM2_CONF", "SITOKEN_MODULE")}
    env.update({"SITOKEN_SIM_DIR": str(tmp_path / "sim"), "SITOKEN_STATE_DIR": str(tmp_path / "state"),
                "SO_PIN": "so-pin-2468"})
    code, screen = converse(["provision", "--applicant", str(applicant), "--so-pin-env", "SO_PIN"],
                            ["123456", "t3rm9pinq", "t3rm9pinq"], env=env)
    assert code == 0, screen
    # Refused on the first entry, before any "Repeat": a weak PIN is never typed twice.
    assert "does not meet the policy" in screen and "Repeat the" in screen
    assert screen.index("does not meet the policy") < screen.index("Repeat the")
    assert "t3rm9pinq" not in screen  # typed without echo
    listed = subprocess.run([sys.executable, "-m", "sitoken", "sim", "list", "--json"], env=env,
                            capture_output=True, text=True, timeout=60, check=True)
    (token,) = json.loads(listed.stdout)
    code, screen = converse(["sign", "--token", token["label"], "--key", "sign-1", "--in", str(applicant),
                             "--out", str(tmp_path / "sig")], ["t3rm9pinq"], env=env)
    assert code == 0, screen


def test_batch_onto_one_named_token_is_refused_before_anything_happens(prov_cli: Any, bed: Bed) -> None:
    """A second holder on the same --token would erase the first holder's key: refused up front."""
    batch = write_batch(bed.root / "two.json", [PERSON, PERSON_2])
    assert prov_cli("sim", "create", "shared-key", "--so-pin-env", "SO_PIN", "--pin-env", "HOLDER_PIN").code == 0
    done = prov_cli("batch", str(batch), "--token", "shared-key", "--so-pin-env", "SO_PIN",
                    "--generate-pins", str(bed.root / "pins"), "--json")
    assert done.code == exitcodes.INVALID_INPUT, done.out + done.err
    assert "a token of its own" in done.json()["message"]
    assert prov_cli("journal", "show", "--json").json()["enrolments"] == []
