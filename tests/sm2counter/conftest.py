"""The SM2 counter tests' bed: an SM2 local CA and a counter state directory per test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sm2counter_support import PIN, SO

from cli_support import Outcome, invoke


@pytest.fixture()
def counter(tmp_path: Path, skf_library: str) -> Any:
    """An SM2 local CA and a counter's state directory; ``run(*args)`` is the CLI with the counter's PINs."""
    assert invoke(["ca", "init", str(tmp_path / "ca"), "--algorithm", "sm2"], {}).code == 0
    env = {"SO": SO, "PIN": PIN, "SITOKEN_STATE_DIR": str(tmp_path / "state")}

    def run(*args: str) -> Outcome:
        return invoke(list(args), env)

    return run

