"""The one loader for the identifier test vectors kept as JSON files beside it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent


def vector_file(name: str) -> dict[str, Any]:
    """A whole vector file: ``provenance``, optional ``today``, and ``vectors``."""
    data: dict[str, Any] = json.loads((HERE / name).read_text(encoding="utf-8"))
    if not data.get("provenance"):
        raise ValueError(f"{name} has no provenance")
    return data


def vector_params(name: str) -> list[Any]:
    """The file's rows as ``pytest.param``s, identified by input and note."""
    return [
        pytest.param(row, id=f"{row['input'] or '<empty>'}-{row.get('note') or row['valid']}")
        for row in vector_file(name)["vectors"]
    ]
