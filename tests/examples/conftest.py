"""Fixtures of the examples' tests: the shared PC/SC bed (tests/pcsc_support.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from testbed.pcsc_bed import PcscBed

from pcsc_support import shared_bed, stop_shared_bed


@pytest.fixture(scope="session")
def pcsc_bed() -> Iterator[PcscBed]:
    yield shared_bed()
    stop_shared_bed()
