"""The benchmark's shape on the shared test token (no timing is asserted)."""

from __future__ import annotations

import os

import pytest
from helpers_native import require_native

from sitoken.bench import ROUNDS, format_report, run_bench
from sitoken.signing.batch import batch_key_for
from sitoken.token import KeyType

pytestmark = [pytest.mark.softhsm, pytest.mark.native, pytest.mark.slow]


def test_bench_measures_every_cell(batch_token):
    require_native()
    keys = {kt: batch_key_for(batch_token, kt.value) for kt in (KeyType.EC_P256, KeyType.ED25519)}
    report = run_bench(seconds=0.05, key_types=list(keys), threads=[1, 2], keys=keys)
    assert [row.key_type for row in report.rows] == ["ec-p256", "ed25519"]
    for row in report.rows:
        assert len(row.cells) == 10 and all(c.signatures > 0 for c in row.cells)
        # Every cell was measured in the same rounds, taking turns with the others.
        assert all(len(c.rounds) == ROUNDS and all(r > 0 for r in c.rounds) for c in row.cells)
        assert all(c.cpu_us is not None and c.cpu_us > 0 for c in row.cells)
        assert row.ratios["native 1T/reference"] is not None
        assert row.ratios["native 1T/reference by CPU"] is not None
    text = format_report(report)
    assert "reference 1T" in text and "CPU us/signature" in text
    assert report.to_dict()["rows"]


def test_bench_on_its_own_token_leaves_softhsm2_conf_alone(module):  # type: ignore[no-untyped-def]
    require_native()
    conf = os.environ.get("SOFTHSM2_CONF")
    report = run_bench(seconds=0.05, key_types=[KeyType.EC_P256], threads=[1])
    assert [row.key_type for row in report.rows] == ["ec-p256"]
    # The bench's temporary store is gone: child processes must still find the caller's.
    assert os.environ.get("SOFTHSM2_CONF") == conf
