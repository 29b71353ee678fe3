"""The hall's tests: journals on the private PostgreSQL bed (and on SQLite, where both must agree)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from testbed.pg_bed import PgBed

# The counters here run the provisioning suite's applicants and child environments.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "provisioning"))


def migrate(url: str) -> None:
    """What a hall's administrator does once: ``sitoken journal migrate``."""
    done = subprocess.run([sys.executable, "-m", "sitoken", "journal", "migrate", "--journal", url, "--json"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
def hall_url(fresh_database: str) -> str:
    """A migrated, empty PostgreSQL journal."""
    migrate(fresh_database)
    return fresh_database


@pytest.fixture(params=["sqlite", "postgresql"])
def journal_at(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """A journal location on each backend: the same behaviour is expected of both."""
    if request.param == "sqlite":
        return tmp_path / "journal.sqlite"
    url: str = request.getfixturevalue("hall_url")
    return url


@pytest.fixture
def server(pg_bed: PgBed) -> PgBed:
    return pg_bed
