"""What every CLI test reads back from a run: exit status, stdout, stderr (shared by the test directories)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass
class Outcome:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)
