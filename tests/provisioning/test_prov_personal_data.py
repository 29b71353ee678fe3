"""ID numbers are masked the same way everywhere sitoken writes or prints them; never in the audit log or a label."""

from __future__ import annotations

import re
from typing import Any

from prov_support import BAD_CHECK, ORG, PERSON, PERSON_2, Bed, write_batch

from sitoken.provisioning.journal import mask

KEY = PERSON["id_number"]
# Every full number the run below handles: holders, an organisation, its agent.
NUMBERS = (KEY, PERSON_2["id_number"], ORG["credit_code"], ORG["agent"]["id_number"])  # type: ignore[index]
HOLDER = ("--holder-pin-env", "HOLDER_PIN")
SO = ("--so-pin-env", "SO_PIN")


def test_no_output_audit_record_or_label_carries_a_full_id_number(prov_cli: Any, bed: Bed) -> None:
    write_batch(bed.root / "one.json", [PERSON])
    batch = write_batch(bed.root / "batch.json", [ORG, BAD_CHECK, PERSON_2, {**PERSON_2, "name": "Other"}])
    runs = [
        prov_cli("provision", "--applicant", str(bed.root / "one.json"), *SO, *HOLDER),
        prov_cli("batch", str(batch), "--check"),
        prov_cli("batch", str(batch), *SO, *HOLDER, "--json"),
        prov_cli("batch", str(batch), *SO, *HOLDER),
        prov_cli("renew", "--applicant-id", KEY, *HOLDER),
        prov_cli("report-loss", "--applicant-id", KEY, "--revocations", str(bed.root / "rev"), *SO, "--force"),
        prov_cli("reissue", "--applicant-id", KEY, *SO, *HOLDER, "--json"),
        prov_cli("provision", "pin-reset", "--applicant-id", KEY, *SO, "--new-pin-env", "NEW_PIN"),
        prov_cli("journal", "show", "--events"),
        prov_cli("journal", "show", "--events", "--json"),
        prov_cli("provision", "--applicant", str(bed.root / "one.json"), *SO, *HOLDER, "--json"),
    ]
    assert [r.code for r in runs] == [0, 15, 15, 15, 0, 0, 0, 0, 0, 0, 0], [(r.code, r.err) for r in runs]
    shown = "\n".join(r.out + r.err for r in runs)
    audit = bed.audit.read_text(encoding="utf-8")
    for number in NUMBERS:
        assert number not in shown, f"{mask(number)} printed in full"
        assert number not in audit, f"the audit log stores {mask(number)} in full"
    # The one masking function: first and last four characters.
    assert mask(KEY) == "1101**********1239" and mask(KEY) in shown and mask(KEY) in audit
    assert mask(ORG["credit_code"]) in audit  # type: ignore[arg-type]
    # A label is "SI-<enrolment number>-<4 hex>": nothing from the holder's number.
    made = [(r.json()["token_label"], r.json()["enrolment"]) for r in (runs[6], runs[10])]
    made += [(row["token_label"], row["enrolment"]) for row in runs[2].json()["rows"] if row["token_label"]]
    assert len(made) == 3
    for label, enrolment in made:
        assert re.fullmatch(rf"SI-{enrolment:06d}-[0-9a-f]{{4}}", label), label
