"""The SoftHSM token store made read-only, then full: clear sitoken errors, and old keys still sign.

The pytest process cannot switch its own SoftHSM store (the module reads SOFTHSM2_CONF once),
so each scenario runs in ``store_fault_child.py``, a child process with its own store. As root
(this machine, CI) the child runs under ``unshare --mount`` in a private mount namespace, where
it mounts a 4 MiB tmpfs for the store: ``remount,ro`` makes it read-only and a filler file
makes it full, and nothing of it is visible outside the namespace or outlives the child. chmod
would not do: root writes through missing write bits. As a non-root user the read-only case
falls back to chmod, and the full case is skipped (no way to fill a filesystem safely).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bed_support import require
from pcsc_support import bed_missing

pytestmark = pytest.mark.softhsm

CHILD = Path(__file__).with_name("store_fault_child.py")
EXIT_TOKEN_ERROR = 12  # sitoken/cli/exitcodes.py: any other token failure
EXIT_INTERNAL = 70


def _namespace_works() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"],
                           capture_output=True, timeout=30, check=False)
    return probe.returncode == 0


def _run(tmp_path: Path, scenario: str, method: str) -> dict[str, Any]:
    mountpoint = tmp_path / "store"
    mountpoint.mkdir()
    command = [sys.executable, str(CHILD), str(mountpoint), scenario, method]
    if method == "namespace":
        command = ["unshare", "--mount", "--propagation", "private", *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"the child crashed (status {done.returncode}):\n{done.stderr[-3000:]}"
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def _clear_token_error(result: dict[str, Any], function: str) -> None:
    """A documented sitoken error naming the C function and keeping the CK_RV; never a crash."""
    assert result["ok"] is False, result
    assert result["sitoken"] is True, f"not a sitoken error: {result}"
    assert result["error"] == "pkcs11-error" and result["function"] == function, result
    assert isinstance(result["rv"], int) and f"0x{result['rv']:X}" in result["message"], result


def _cli_refused(result: dict[str, Any]) -> None:
    assert result["code"] == EXIT_TOKEN_ERROR, result
    assert "internal error" not in result["stderr"] and "Traceback" not in result["stderr"], result


def _old_keys_intact(report: dict[str, Any]) -> None:
    assert report["old_key_signs"] == {"ok": True, "result": True}
    assert report["keys"] == {"ok": True, "result": ["old", "pending"]}
    assert report["cli_sign"]["code"] == 0, report["cli_sign"]
    # Read back by a fresh module: nothing half-made was left behind by the failed writes.
    assert report["reloaded_keys"] == {"ok": True, "result": ["old", "pending"]}
    assert report["reloaded_certificates"] == {"ok": True, "result": 0}
    assert report["reloaded_old_key_signs"] == {"ok": True, "result": True}


def _recovers(report: dict[str, Any]) -> None:
    assert report["recovered_keygen"] == {"ok": True, "result": "after"}, report["recovered_keygen"]
    assert report["recovered_cert_import"] == {"ok": True, "result": "pending"}, report["recovered_cert_import"]
    assert report["recovered_incomplete_objects"] == {"ok": True, "result": 0}


def test_read_only_store(tmp_path: Path, softhsm_path: str) -> None:
    method = "namespace" if _namespace_works() else "chmod"
    if method == "chmod" and os.geteuid() == 0:
        bed_missing("a private mount namespace (unshare --mount), needed as root: chmod does not bind root")
    report = _run(tmp_path, "ro", method)
    assert report["store_write_refused"], "the store was still writable: the scenario did not happen"
    _refused_then_recovers(report)


def test_full_store(tmp_path: Path, softhsm_path: str) -> None:
    # Filling a file system safely needs a private tmpfs: root and unshare --mount (CI runs as root).
    require(_namespace_works(), "a private mount namespace (root and unshare --mount) for a small tmpfs")
    report = _run(tmp_path, "full", "namespace")
    assert report["free_bytes"] == 0 and report["filler_bytes"] > 0, "the store was not full"
    _refused_then_recovers(report)


def _refused_then_recovers(report: dict[str, Any]) -> None:
    """Writes fail with a clear sitoken error (library and CLI), old keys still sign, and the store recovers."""
    _clear_token_error(report["keygen"], "C_GenerateKeyPair")
    _clear_token_error(report["cert_import"], "C_CreateObject")
    _cli_refused(report["cli_keygen"])
    _cli_refused(report["cli_cert_import"])
    _old_keys_intact(report)
    _recovers(report)
