"""Issue 10: no length a module returns is trusted, in Python or in C; the native code under
AddressSanitizer. A real module that lies (testbed/lying_pkcs11.c over SoftHSM) stands for a
broken vendor module; each run is a process of its own, with a store of its own."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers_native import require_native

pytestmark = [pytest.mark.softhsm, pytest.mark.native]

CHILD = Path(__file__).with_name("native_child.py")
ROOT = Path(__file__).resolve().parents[2]
FUNCTION_OF_MODE = {
    "sign": "C_Sign", "attribute": "C_GetAttributeValue", "find": "C_FindObjects",
    "slots": "C_GetSlotList", "mechanisms": "C_GetMechanismList",
}


@pytest.fixture(scope="module")
def liar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    gcc = shutil.which("gcc")
    assert gcc, "gcc is part of the test bed (scripts/setup.sh)"
    out = tmp_path_factory.mktemp("liar") / "lying_pkcs11.so"
    subprocess.run(
        [gcc, "-shared", "-fPIC", "-Wall", "-Wextra", "-Werror", "-I", str(ROOT / "src/sitoken/pkcs11"),
         str(ROOT / "testbed/lying_pkcs11.c"), "-o", str(out), "-ldl"],
        check=True, timeout=120,
    )
    return out


def run_child(liar: Path, softhsm_path: str, scratch: Path, **env: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, str(CHILD), str(liar), softhsm_path, str(scratch)],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=240, check=False,
    )
    assert done.returncode == 0 and "AddressSanitizer" not in done.stderr, done.stderr[-4000:]
    result: dict[str, object] = json.loads(done.stdout)
    return result


def check_refusals(result: dict[str, object]) -> None:
    lies = result["lies"]
    assert isinstance(lies, dict) and set(lies) == set(FUNCTION_OF_MODE)
    for mode, outcomes in lies.items():
        for outcome in outcomes:
            assert "broke the PKCS#11 contract" in outcome, (mode, outcome)
            assert FUNCTION_OF_MODE[mode] in outcome, (mode, outcome)
    verified = result["verified"]
    assert isinstance(verified, dict) and len(verified) == 7 and all(verified.values())
    # Every part of sitoken (token, PINs, batches native and Python) used one function list.
    assert result["function_list_calls"] == 1


def test_lengths_beyond_the_buffer_are_refused_and_nothing_else_changes(liar, softhsm_path, tmp_path):
    require_native()
    result = run_child(liar, softhsm_path, tmp_path)
    assert result["native"] is True
    check_refusals(result)


def test_the_same_run_under_address_sanitizer(liar, softhsm_path, tmp_path):
    require_native()
    libasan = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True, text=True,
                             check=True).stdout.strip()
    assert os.path.isabs(libasan), "libasan comes with gcc (scripts/setup.sh)"
    build = tmp_path / "asan"
    build.mkdir()
    flags = "-fsanitize=address -fno-omit-frame-pointer -O1 -g"
    built = subprocess.run(
        [sys.executable, "-c", "import sys; sys.path.insert(0, 'native'); import build_native as b; "
         f"print(b.ffibuilder.compile(tmpdir={str(build)!r}))"],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=True,
        env={**os.environ, "SITOKEN_NATIVE_CFLAGS": flags, "SITOKEN_NATIVE_LDFLAGS": "-fsanitize=address",
             "SITOKEN_NATIVE_ABSOLUTE": "1"},
    )
    extension = built.stdout.strip().splitlines()[-1]
    assert "libasan" in subprocess.run(["ldd", extension], capture_output=True, text=True).stdout
    store = tmp_path / "store"
    result = run_child(
        liar, softhsm_path, store, SITOKEN_TEST_NATIVE_SO=extension, LD_PRELOAD=libasan,
        ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0",
    )
    assert result["native"] is True
    check_refusals(result)
