"""The suite's own rules: a hang fails, nothing skips for a missing part under CI, no tight deadlines.

A test of the tests: each rule is checked against the configuration and the test tree, so a
skip or a dropped timeout that comes back fails here.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent

# Skips that state a fact about a token, not a missing part (DESIGN.md: capability gates).
CAPABILITY_GATES = {
    "pcsc/test_opensc_driver.py": "never locks a PIN",  # SoftHSM never locks; lockout runs on the card
    "skf/test_token_contract.py": "never locks a PIN",
    "skf/test_skf_driver.py": "offers no RSA",  # the SKF library declares its key types
    # p11-kit's RPC does not carry EdDSA: the module's profile and capabilities say so.
    "p11kit/driver/conftest.py": "not among what the module declares it can do",
}
SKIP = re.compile(r"pytest\.skip\(|importorskip|mark\.skip(if)?\b|pytest\.xfail\(|mark\.xfail")

HANGS = """
def test_spins_forever():
    while True:
        pass

def test_after_the_hang():
    assert True
"""


def test_every_test_has_a_time_limit(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.hasplugin("timeout"), "pytest-timeout is not installed"
    assert int(pytestconfig.getini("timeout")) == 120
    assert pytestconfig.getini("timeout_method") == "signal"


def test_a_hang_fails_its_test_and_the_run_goes_on(tmp_path: Path) -> None:
    (tmp_path / "test_hang.py").write_text(HANGS)
    # The project's own configuration, with the limit shortened so the check is quick.
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path),
         "-o", "timeout=2", "-p", "no:cacheprovider", "-q", str(tmp_path / "test_hang.py")],
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Timeout" in done.stdout and "1 failed, 1 passed" in done.stdout, done.stdout


def test_property_tests_have_no_deadline() -> None:
    assert settings.default.deadline is None


def test_no_test_skips_because_a_part_is_missing() -> None:
    """Only the one rule (bed_support.require: skip locally, fail under CI=true) and capability gates skip."""
    found = []
    for path in sorted(TESTS.rglob("*.py")):
        name = path.relative_to(TESTS).as_posix()
        if name in ("bed_support.py", "hygiene/test_suite_rules.py"):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if SKIP.search(line) and not (name in CAPABILITY_GATES and CAPABILITY_GATES[name] in line):
                found.append(f"{name}:{number}: {line.strip()}")
    assert found == [], "use bed_support.require(condition, what) instead:\n" + "\n".join(found)
