"""Fixtures of the PC/SC test bed: a private pcscd, vpcd, and a fresh emulated OpenPGP card."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # testbed/ lives at the project root, outside src/

from testbed.pcsc_bed import (  # noqa: E402
    OPENSC_MODULE,
    BedError,
    BedUnavailable,
    OpenScBed,
    PcscBed,
    check_prerequisites,
    opensc_env,
)

FACTORY_PIN = "123456"
FACTORY_ADMIN_PIN = "12345678"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def bed_missing(reason: str) -> None:
    """In CI a missing bed fails the run; elsewhere the test is skipped with the reason."""
    if _in_ci():
        pytest.fail(f"PC/SC test bed missing under CI=true: {reason}", pytrace=False)
    pytest.skip(f"PC/SC test bed unavailable: {reason}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.pcsc)


@pytest.fixture(scope="session")
def pcsc_bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PcscBed]:
    try:
        check_prerequisites()
    except BedUnavailable as exc:
        bed_missing(str(exc))
    # The directory the root conftest pointed PCSCLITE_CSOCK_NAME at, before any PC/SC call.
    bed = PcscBed(directory=Path(os.environ["SITOKEN_TEST_PCSC_DIR"]))
    try:
        bed.start()
    except BedError as exc:
        bed.stop()
        pytest.fail(f"PC/SC test bed did not start: {exc}", pytrace=False)
    yield bed
    bed.stop()


@pytest.fixture
def card(pcsc_bed: PcscBed) -> Iterator[Path]:
    """A blank OpenPGP card (fresh image: PW1 123456, PW3 12345678, 3 tries) in reader 0."""
    pcsc_bed.remove_card(0)
    image = pcsc_bed.insert_card(0)
    yield image
    pcsc_bed.remove_card(0)


@pytest.fixture
def openpgp(pcsc_bed: PcscBed, card: Path) -> Iterator[object]:
    from sitoken.pcsc.openpgp import OpenPgpCard

    token = OpenPgpCard.open(pcsc_bed.reader_name(0))
    yield token
    token.close()


@pytest.fixture
def opensc(pcsc_bed: PcscBed, card: Path, monkeypatch: pytest.MonkeyPatch) -> OpenScBed:
    if not OPENSC_MODULE.exists():
        bed_missing(f"{OPENSC_MODULE} not found (apt package opensc)")
    env = opensc_env(pcsc_bed)
    for name, value in env.items():
        monkeypatch.setenv(name, value)  # for modules loaded into this process
    return OpenScBed(OPENSC_MODULE, env, user_pin=FACTORY_PIN, so_pin=FACTORY_ADMIN_PIN)
