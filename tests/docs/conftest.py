"""The documentation site, built once per run with `mkdocs build --strict` for every docs test."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _require_mkdocs() -> None:
    # The docs extra is part of the test extras; without it CI must fail, not skip.
    if all(importlib.util.find_spec(m) for m in ("mkdocs", "mkdocstrings", "mkdocs_click")):
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail("mkdocs and its plugins are missing in CI (pip install -e '.[test]')", pytrace=False)
    pytest.skip("mkdocs not installed: pip install -e '.[docs]'")


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
