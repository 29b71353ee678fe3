"""`sitoken bench --key-types sm2`: refused before any token is made, saying why (SoftHSM has no SM2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_support import invoke
from sitoken.cli import exitcodes


@pytest.mark.parametrize("extra", [(), ("--pool", "2")])
def test_bench_refuses_sm2_before_running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          extra: tuple[str, ...]) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # where a benchmark token's store would appear
    run = invoke(["bench", "--seconds", "0.05", "--key-types", "ec-p256,sm2", *extra, "--json"], {})
    assert run.code == exitcodes.NOT_SUPPORTED, run.out + run.err
    message = run.json()["message"]
    assert "SoftHSM" in message and "no sm2" in message and "softskf-bench" in message
    assert "generating" not in run.err and list(tmp_path.iterdir()) == []
