"""Shared data and helpers of the provisioning tests (a module of its own: every test directory has a conftest)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

SO_PIN = "so-pin-2468"
HOLDER_PIN = "hold3r9pin"
NEW_PIN = "n3wpin88x"
PINS = {"SO_PIN": SO_PIN, "HOLDER_PIN": HOLDER_PIN, "NEW_PIN": NEW_PIN}
ON = date.today()

# Synthetic identifiers (DOMAIN.md §1.6, §2.6); a counter keys holders by them.
PERSON = {"kind": "personal", "name": "张三", "id_number": "110105199003071239", "mobile": "13800138000"}
PERSON_2 = {"kind": "personal", "name": "Li, Si", "id_number": "440305200002292462", "mobile": "+86 138 0013 8000"}
PERSON_3 = {"kind": "personal", "name": "王五", "id_number": "320102198511200012", "mobile": "13912345678"}
ORG = {"kind": "organisation", "name": "某某社保服务有限公司", "credit_code": "91350100M000100Y43",
       "agent": {"name": "赵六", "id_number": "33010619880815101X", "authorisation_ref": "AUTH-2026-7"}}
BAD_CHECK = {**PERSON, "id_number": "110105199003071238", "name": "Bad Check"}


def _id(body: str) -> str:
    from sitoken.provisioning.identifiers import resident_id_check_character

    return body + resident_id_check_character(body)


TOO_YOUNG = {**PERSON, "id_number": _id(f"110105{ON.year - 10}0307123"), "name": "Too Young"}


@dataclass
class Bed:
    """Where one test's counter keeps its records."""

    root: Path

    @property
    def journal(self) -> Path:
        return self.root / "state" / "journal.sqlite"

    @property
    def audit(self) -> Path:
        return self.root / "state" / "audit.jsonl"

    @property
    def ca(self) -> Path:
        return self.root / "ca"


def validated(record: dict[str, Any]) -> Any:
    from sitoken.provisioning.applicant import applicant_from_dict, validate

    return validate(applicant_from_dict(record), on=ON)


def open_by_label(label: str, pin: str = HOLDER_PIN) -> Any:
    """A provisioned token, logged in as the holder."""
    from sitoken.discovery import open_token
    from sitoken.pin import Pin

    token = open_token(label)
    token.login(Pin(pin))
    return token




def run_sitoken(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m sitoken`` in a child process with its own environment (own token store, state dir)."""
    return subprocess.run([sys.executable, "-m", "sitoken", *args], capture_output=True, text=True,
                          env={**os.environ, **PINS, **env}, timeout=timeout, check=False)


def write_batch(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    return path


def many_applicants(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """``count`` distinct synthetic personal applicants (valid ID numbers, adults), reproducible by seed."""
    import random

    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    while len(out) < count:
        body = f"110105{rng.randint(1960, 2000)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(100, 999)}"
        if body not in seen:
            seen.add(body)
            out.append({"kind": "personal", "name": f"Holder {len(out):03d}", "id_number": _id(body),
                        "mobile": f"1380013{len(out):04d}"})
    return out


# Run in a child with the batch's own token store and journal (the state directory's SQLite file,
# or $SITOKEN_JOURNAL): reads the journal through its interface, lists every token, and logs in to
# each journalled one with the holder's generated PIN to list its keys and certificates.
INSPECT = r"""
import collections, json, sys
from pathlib import Path
from sitoken.certs import load_certificates
from sitoken.certs.ontoken import token_certificates
from sitoken.discovery import list_tokens, open_token
from sitoken.pin import Pin
from sitoken.provisioning.journal import Journal, journal_location
state, pins = Path(sys.argv[1]), Path(sys.argv[2])
with Journal(journal_location(), operator="inspect") as journal:
    rows = [(e.subject_key, e.state, e.token_serial, e.key_id, e.certificate) for e in journal.enrolments()]
    events, claims = journal.events(), journal.claims()
out = {"tokens": [[t.label, t.serial] for t in list_tokens()], "enrolments": [], "issued": 0,
       "claims": len(claims),
       "done_events": sorted(collections.Counter(e.enrolment for e in events if e.step == "done").items()),
       "takeovers": sum(e.step == "claim-takeover" for e in events),
       "restarts": sum("simulated token destroyed" in json.dumps(e.detail, ensure_ascii=False) for e in events)}
for key, st, serial, key_id, cert in rows:
    token = open_token(serial)
    token.login(Pin((pins / f"{key}.pin").read_text().strip()))
    keys = [[k.id, k.has_private, k.has_public] for k in token.keys()]
    leaves = [c.der == cert for c in token_certificates(token) if not c.authority]
    token.close()
    out["enrolments"].append({"subject": key, "state": st, "serial": serial, "key_id": key_id,
                              "keys": keys, "leaves": leaves})
for path in (state / "local-ca" / "issued").glob("*.pem"):
    try:
        out["issued"] += len(load_certificates(path.read_bytes()))
    except Exception:
        pass
print(json.dumps(out))
"""


def child_env(tmp: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a sitoken child with its own token store and state directory under ``tmp``."""
    from sitoken.provisioning.workflow import CRASH_ENV

    env = {k: v for k, v in os.environ.items() if k not in ("SOFTHSM2_CONF", "SITOKEN_MODULE", CRASH_ENV)}
    return {**env, **PINS, "SITOKEN_SIM_DIR": str(tmp / "sim"), "SITOKEN_STATE_DIR": str(tmp / "state"),
            **(extra or {})}
