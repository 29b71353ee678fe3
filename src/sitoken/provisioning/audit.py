"""The audit log: one JSON line per counter action (who, what, which token, outcome), never a PIN."""

from __future__ import annotations

import getpass
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..pin import Pin
from ..safefiles import private_file
from .hall import counter_name
from .journal import mask, now_text
from .journal_store import Store

__all__ = ["AuditLog", "DatabaseAuditLog", "TokenRef", "default_operator"]




def default_operator() -> str:
    """The operator's name when none is given: ``$USER``, else the login name."""
    user = os.environ.get("USER") or os.environ.get("LOGNAME")
    if user:
        return user
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@dataclass(frozen=True)
class TokenRef:
    """Which token an action touched."""

    label: str | None
    serial: str | None

    def to_dict(self) -> dict[str, str | None]:
        return {"label": self.label, "serial": self.serial}


_SCALARS = (str, int, float, bool, type(None))


class AuditLog:
    """Append-only JSON lines in an owner-only file; each line is written and synced at once.

    Details take plain values only: a ``Pin`` (or anything else) is refused, so a PIN
    cannot be written by accident. Applicants appear with their number masked.
    """

    def __init__(self, path: str | os.PathLike[str], operator: str | None = None) -> None:
        self.path = Path(path)
        self.operator = operator or default_operator()
        private_file(self.path, "audit log")

    def record(self, action: str, outcome: str, *, subject: str | None = None, token: TokenRef | None = None,
               enrolment: int | None = None, **detail: object) -> dict[str, object]:
        for key, value in detail.items():
            if isinstance(value, Pin) or not isinstance(value, (*_SCALARS, list, tuple)):
                raise TypeError(f"audit detail {key!r} must be a plain value")
        entry: dict[str, object] = {
            "at": now_text(), "operator": self.operator, "action": action, "outcome": outcome,
            "subject": mask(subject) if subject else None, "enrolment": enrolment,
            "token": token.to_dict() if token else None, **detail,
        }
        self._append(entry)
        return entry

    def _append(self, entry: dict[str, object]) -> None:
        line = (json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
        # A link planted at the name since is refused here, never written through.
        fd = os.open(private_file(self.path, "audit log"), os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def entries(self) -> list[dict[str, object]]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append(json.loads(line))
        return out


class DatabaseAuditLog(AuditLog):
    """The audit log of a hall: rows of the journal's PostgreSQL database, append-only there.

    The same entries as the file (never a PIN, subjects masked), plus the counter's name, so a
    hall's record says which machine did what. A trigger in the database refuses any UPDATE,
    DELETE or TRUNCATE of the table.
    """

    def __init__(self, store: Store, operator: str | None = None, counter: str | None = None) -> None:
        self.store = store
        self.path = Path(store.where)  # for messages only: nothing is written to a file
        self.operator = operator or default_operator()
        self.counter = counter or counter_name()

    def _append(self, entry: dict[str, object]) -> None:
        entry["counter"] = self.counter
        with self.store.transaction() as db:
            db.execute("INSERT INTO audit (at, counter, operator, action, outcome, entry) VALUES (?, ?, ?, ?, ?, ?)",
                       (entry["at"], self.counter, self.operator, entry["action"], entry["outcome"],
                        json.dumps(entry, ensure_ascii=False, sort_keys=True)))

    def append_copied(self, entry: dict[str, object]) -> None:
        """An entry from a counter's JSON-lines file, kept as it was (``journal copy --audit``)."""
        self.counter = str(entry.get("counter") or self.counter)
        self.operator = str(entry.get("operator") or self.operator)
        self._append(dict(entry))

    def entries(self) -> list[dict[str, object]]:
        rows = self.store.execute("SELECT entry FROM audit ORDER BY id").fetchall()
        return [json.loads(r[0]) for r in rows]
