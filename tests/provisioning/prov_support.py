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
