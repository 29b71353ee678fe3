"""The SM2 counter tests' bed: an SM2 local CA and a counter state directory per test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sm2counter_support import PIN, SO

from cli_support import Outcome, invoke


@pytest.fixture()
def counter(tmp_path: Path, skf_library: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An SM2 local CA, a counter's state directory and its own USB-Keys; ``run(*args)`` is the CLI with
    the counter's PINs.

    The counter's software SKF store is its own: provisioning takes any free device it finds, and
    in the run's shared store other tests leave devices whose device key they changed, which a
    later wipe (report-loss with the SO PIN) could not authenticate to.
    """
    store = tmp_path / "usb-keys"
    store.mkdir(mode=0o700)
    monkeypatch.setenv("SOFTSKF_DIR", str(store))  # read by softskf at every call, and by child processes
    assert invoke(["ca", "init", str(tmp_path / "ca"), "--algorithm", "sm2"], {}).code == 0
    env = {"SO": SO, "PIN": PIN, "SITOKEN_STATE_DIR": str(tmp_path / "state")}

    def run(*args: str) -> Outcome:
        return invoke(list(args), env)

    return run

