"""The PC/SC test bed shared by every test directory: one private pcscd per pytest process.

Each directory's conftest (``tests/pcsc``, ``tests/reliability``, ``tests/hygiene``,
``tests/examples``) builds its fixtures on :func:`shared_bed`, so they all drive the same
``PcscBed`` object: two objects would each track their own pcscd and card processes, and
a restart made through one would leave the other pointing at a dead pcscd.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bed_support import require

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # testbed/ lives at the project root, outside src/

from testbed.lifeline import Lifeline  # noqa: E402
from testbed.pcsc_bed import BedError, BedUnavailable, PcscBed, check_prerequisites  # noqa: E402

FACTORY_PIN = "123456"
FACTORY_ADMIN_PIN = "12345678"

_bed: PcscBed | None = None
_lifeline: Lifeline | None = None


def bed_missing(reason: str) -> None:
    """In CI a missing bed fails the run; elsewhere the test is skipped with the reason."""
    require(False, f"PC/SC test bed: {reason}")


def shared_bed() -> PcscBed:
    """The running bed of this process, started on first use (skip or fail when it cannot be)."""
    global _bed, _lifeline
    if _bed is not None and _bed.running():
        return _bed
    try:
        check_prerequisites()
    except BedUnavailable as exc:
        bed_missing(str(exc))
    # The directory the root conftest pointed PCSCLITE_CSOCK_NAME at, before any PC/SC call.
    bed = _bed or PcscBed(directory=Path(os.environ["SITOKEN_TEST_PCSC_DIR"]))
    # pcscd and the cards stop with this process even when it is killed (testbed/lifeline.py).
    _lifeline = _lifeline or bed.lifeline()
    try:
        bed.start()
    except BedError as exc:
        bed.stop()
        pytest.fail(f"PC/SC test bed did not start: {exc}", pytrace=False)
    _bed = bed
    return bed


def stop_shared_bed() -> None:
    """Stop the bed (idempotent: every directory's session fixture calls it at the end)."""
    global _lifeline
    if _bed is not None:
        _bed.stop()
    if _lifeline is not None:
        _lifeline.cut()
        _lifeline = None


# The fixtures every directory that uses the bed imports into its conftest.


@pytest.fixture(scope="session")
def pcsc_bed() -> Iterator[PcscBed]:
    """The process-wide bed, shared by every test directory."""
    yield shared_bed()
    stop_shared_bed()


@pytest.fixture
def card(pcsc_bed: PcscBed) -> Iterator[Path]:
    """A blank OpenPGP card (fresh image: PW1 123456, PW3 12345678, 3 tries) in reader 0; removed afterwards."""
    pcsc_bed.remove_card(0)
    image = pcsc_bed.insert_card(0)
    yield image
    pcsc_bed.remove_card(0)
