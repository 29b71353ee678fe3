"""The benchmark's shape on the shared test token (no timing is asserted)."""

from __future__ import annotations

import pytest
from helpers_native import require_native

from sitoken.bench import format_report, run_bench
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
        assert row.ratios["native 1T/reference"] is not None
    assert "reference 1T" in format_report(report)
    assert report.to_dict()["rows"]
