"""Fixtures of the reliability suite: the shared PC/SC bed and a fresh card (tests/pcsc_support.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from testbed.pcsc_bed import PcscBed

from pcsc_support import shared_bed, stop_shared_bed


@pytest.fixture(scope="session")
def pcsc_bed() -> Iterator[PcscBed]:
    yield shared_bed()
    stop_shared_bed()


@pytest.fixture
def card(pcsc_bed: PcscBed) -> Iterator[Path]:
    """A blank OpenPGP card in reader 0 (PW1 123456, PW3 12345678); removed afterwards."""
    pcsc_bed.remove_card(0)
    image = pcsc_bed.insert_card(0)
    yield image
    pcsc_bed.remove_card(0)
