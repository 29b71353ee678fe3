"""The documentation site, built once per run with `mkdocs build --strict` for every docs test."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from bed_support import require

ROOT = Path(__file__).resolve().parents[2]


def _require_mkdocs() -> None:
    # The docs extra is part of the test extras; without it CI must fail, not skip.
    require(all(importlib.util.find_spec(m) for m in ("mkdocs", "mkdocstrings", "mkdocs_click")),
            "mkdocs and its plugins (pip install -e '.[test]')")


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _require_mkdocs()
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"),
         "--site-dir", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    return out
