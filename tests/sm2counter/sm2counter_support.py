"""Data and helpers shared by the SM2 counter tests."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

SO, PIN = "so-pin-2468", "hold3r9pin"
PERSON = {"kind": "personal", "name": "张三", "id_number": "110105199003071239", "mobile": "13800138000"}
ORG = {"kind": "organisation", "name": "某某社保服务有限公司", "credit_code": "91350100M000100Y43",
       "agent": {"name": "赵六", "id_number": "33010619880815101X", "authorisation_ref": "AUTH-2026-7"}}


def journal_rows(tmp_path: Path) -> list[dict[str, Any]]:
    """The enrolments of the test's counter journal, as the database has them."""
    db = sqlite3.connect(tmp_path / "state" / "journal.sqlite")
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute("SELECT * FROM enrolments ORDER BY id")]
    finally:
        db.close()
