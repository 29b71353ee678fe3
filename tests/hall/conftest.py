"""The hall's tests: journals on the private PostgreSQL bed (and on SQLite, where both must agree)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from testbed.pg_bed import PgBed

from pg_support import journal_on

# The counters here run the provisioning suite's applicants and child environments.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "provisioning"))


@pytest.fixture
def hall_url(migrated_database: str) -> str:
    """A migrated, empty PostgreSQL journal."""
    return migrated_database


@pytest.fixture(params=["sqlite", "postgresql"])
def journal_at(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """A journal location on each backend: the same behaviour is expected of both."""
    return journal_on(request, tmp_path / "journal.sqlite")


@pytest.fixture
def server(pg_bed: PgBed) -> PgBed:
    return pg_bed
