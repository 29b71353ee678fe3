"""Provisioning fixtures: a Counter on the SoftHSM bed with its own journal, audit log and local CA."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from prov_support import HOLDER_PIN, ON, PINS, SO_PIN, Bed

from cli_support import Outcome


@pytest.fixture()
def bed(tmp_path: Path, softhsm_path: str) -> Bed:
    return Bed(tmp_path)


@pytest.fixture()
def journal_at(bed: Bed) -> str | Path:
    """Where the counters keep their journal: the SQLite file of the bed (a module that runs on
    both backends overrides this fixture with ``pg_support.journal_on``)."""
    return bed.journal


@pytest.fixture()
def make_counter(bed: Bed, journal_at: str | Path) -> Iterator[Callable[..., Any]]:
    """Build Counters on the SoftHSM bed; every journal they open is closed at the end."""
    from sitoken.pin import Pin
    from sitoken.provisioning.audit import AuditLog
    from sitoken.provisioning.holder_pins import FixedPin
    from sitoken.provisioning.issuers import LocalCAIssuer
    from sitoken.provisioning.journal import Journal
    from sitoken.provisioning.workflow import Counter

    journals: list[Journal] = []

    def make(*, holder_pin: str = HOLDER_PIN, issuer: Any = None, holder_pins: Any = None,
             so_pin: str | None = SO_PIN) -> Counter:
        journal = Journal(journal_at, operator="clerk-7")
        journals.append(journal)
        return Counter(journal, AuditLog(bed.audit, "clerk-7"), issuer or LocalCAIssuer(bed.ca),
                       holder_pins=holder_pins or FixedPin(Pin(holder_pin)),
                       so_pin=Pin(so_pin) if so_pin else None, on=ON)

    yield make
    for journal in journals:
        journal.close()


@pytest.fixture()
def prov_cli(bed: Bed) -> Callable[..., Outcome]:
    """The CLI in-process, with this test's state directory and the PINs in variables."""
    from sitoken.cli import cli as group

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Outcome:
        runner = CliRunner()
        full_env = {**PINS, "SITOKEN_STATE_DIR": str(bed.root / "state"), **(env or {})}
        result = runner.invoke(group, list(args), input=input, env=full_env)
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Outcome(result.exit_code, result.stdout, result.stderr)

    return run
