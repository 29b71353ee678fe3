"""The PostgreSQL test bed shared by every test directory: one private server per pytest process.

Started on first use and stopped when the session ends, or by its lifeline when the pytest
process dies before that (``testbed/lifeline.py``); tests that need a clean journal make
their own database on it (``fresh_database``) instead of restarting the server.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from testbed.lifeline import Lifeline
from testbed.pg_bed import PgBed, PgBedError, PgBedUnavailable, server_bin_dir

from bed_support import require

_bed: PgBed | None = None
_lifeline: Lifeline | None = None
_names = itertools.count(1)


def shared_pg() -> PgBed:
    """The running server of this process (skipped where PostgreSQL is missing, failed in CI)."""
    global _bed, _lifeline
    if _bed is not None and _bed.running():
        return _bed
    bed = _bed or PgBed(Path(tempfile.mkdtemp(prefix="sitoken-pg-")))
    _lifeline = _lifeline or bed.lifeline()  # before the server: a kill during start-up is covered too
    try:
        bed.start()
    except PgBedUnavailable as exc:
        require(False, f"PostgreSQL test bed: {exc}")
    except PgBedError as exc:
        pytest.fail(f"PostgreSQL test bed did not start: {exc}", pytrace=False)
    _bed = bed
    return bed


def psql(bed: PgBed, database: str, sql: str) -> str:
    """Run one statement with the server's own psql; returns its unaligned output."""
    done = bed._run([str(server_bin_dir() / "psql"), "-h", str(bed.socket_dir), "-p", str(bed.port),
                     "-d", database, "-v", "ON_ERROR_STOP=1", "-tAc", sql])
    return done.stdout.strip()


@pytest.fixture(scope="session")
def pg_bed() -> Iterator[PgBed]:
    bed = shared_pg()
    yield bed


@pytest.fixture
def fresh_database(pg_bed: PgBed) -> str:
    """A new, empty database on the shared server; returns its journal URL."""
    name = f"t{os.getpid()}_{next(_names)}"
    psql(pg_bed, "postgres", f"CREATE DATABASE {name}")
    return pg_bed.url(name)


@pytest.fixture
def migrated_database(fresh_database: str) -> str:
    """A new database at this sitoken's schema, as a hall's administrator leaves it
    (``sitoken journal migrate``, done here in the process: no interpreter start per test)."""
    from sitoken.provisioning.journal import Journal

    with Journal.for_migration(fresh_database) as journal:
        journal.store.migrate()
    return fresh_database


def journal_on(request: pytest.FixtureRequest, sqlite_path: Path) -> str | Path:
    """The journal location of a test parametrized over ``sqlite`` and ``postgresql``: the SQLite
    file at ``sqlite_path``, or a migrated database on the shared server."""
    if request.param == "sqlite":
        return sqlite_path
    url: str = request.getfixturevalue("migrated_database")
    return url


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _bed is not None:
        with contextlib.suppress(PgBedError, subprocess.SubprocessError):
            _bed.destroy()
    if _lifeline is not None:
        _lifeline.cut()
