"""The softskf store under several processes, a killed writer, restarts and a damaged file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from skf_client import SAR, Session, connect, ffi, read_list, split_names, util

from conftest import USER_PIN

HERE = Path(__file__).parent

# A child process: opens the application, logs in, creates containers with a prefix.
CHILD = """
import sys
sys.path.insert(0, {here!r})
from skf_client import ffi, load, connect, check
lib = load()
dev = connect(lib, "dev1")
app = ffi.new("HANDLE *")
check("open", lib.SKF_OpenApplication(dev, b"app", app))
retry = ffi.new("ULONG *")
check("verify", lib.SKF_VerifyPIN(app[0], 1, {pin!r}.encode(), retry))
h = ffi.new("HANDLE *")
for i in range({count}):
    check("create", lib.SKF_CreateContainer(app[0], ({prefix!r} + str(i)).encode(), h))
print("done")
"""


def _child(prefix: str, count: int, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    code = CHILD.format(here=str(HERE), pin=USER_PIN, count=count, prefix=prefix)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, **(env or {})})


def test_two_processes_on_one_device_lose_no_update(session: Session) -> None:
    children = [_child("a", 8), _child("b", 8)]
    for child in children:
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0 and out.strip() == "done", err
    names = split_names(read_list(session.lib, "SKF_EnumContainer", session.app))
    assert sorted(names) == sorted([f"a{i}" for i in range(8)] + [f"b{i}" for i in range(8)])


def test_a_writer_killed_mid_write_leaves_the_store_usable(session: Session, tmp_path: Path) -> None:
    session.container("before")
    marker = tmp_path / "paused"
    child = _child("killed", 1, {"SOFTSKF_TEST_PAUSE_WRITE": str(marker)})
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert time.monotonic() < deadline and child.poll() is None, child.stderr.read() if child.stderr else ""
        time.sleep(0.02)
    # The child is half-way through its temporary file and holds the device lock.
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    assert split_names(read_list(session.lib, "SKF_EnumContainer", session.app)) == ["before"]
    session.container("after")
    assert split_names(read_list(session.lib, "SKF_EnumContainer", session.app)) == ["before", "after"]


def test_state_survives_a_restart_of_the_process(session: Session, store: Path) -> None:
    session.verify("wrong-pin")
    code = (f"import sys; sys.path.insert(0, {str(HERE)!r})\n"
            "from skf_client import ffi, load, connect\n"
            "lib = load(); dev = connect(lib, 'dev1'); app = ffi.new('HANDLE *')\n"
            "lib.SKF_OpenApplication(dev, b'app', app)\n"
            "m, r, d = ffi.new('ULONG *'), ffi.new('ULONG *'), ffi.new('BOOL *')\n"
            "lib.SKF_GetPINInfo(app[0], 1, m, r, d); print(m[0], r[0])\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.stdout.split() == ["3", "2"], done.stderr


def test_a_damaged_state_file_is_an_error_not_a_crash(lib: Any, device: str, store: Path) -> None:
    dev = connect(lib, device)
    state = store / "devices" / device / "state"
    state.write_bytes(state.read_bytes()[:-10])  # truncated: no "end" line
    info = ffi.new("DEVINFO *")
    assert lib.SKF_GetDevInfo(dev, info) == SAR["FILEERR"]
    state.write_bytes(b"softskf-state 1\ndevice zz\nend\n")
    assert lib.SKF_GetDevInfo(dev, info) == SAR["FILEERR"]
    lib.SKF_DisConnectDev(dev)


def test_lock_dev_holds_off_other_handles(lib: Any, device: str, monkeypatch: Any) -> None:
    monkeypatch.setenv("SOFTSKF_LOCK_WAIT_MS", "200")
    first, second = connect(lib, device), connect(lib, device)
    assert lib.SKF_LockDev(first, 0) == SAR["OK"]
    info = ffi.new("DEVINFO *")
    assert lib.SKF_GetDevInfo(first, info) == SAR["OK"]
    assert lib.SKF_GetDevInfo(second, info) == SAR["TIMEOUTERR"]
    assert lib.SKF_LockDev(second, 100) == SAR["TIMEOUTERR"]
    assert lib.SKF_UnlockDev(first) == SAR["OK"]
    assert lib.SKF_GetDevInfo(second, info) == SAR["OK"]
    lib.SKF_DisConnectDev(first)
    lib.SKF_DisConnectDev(second)


def test_util_lists_devices_without_secrets(session: Session, store: Path) -> None:
    done = util(store, "list")
    assert done.returncode == 0
    assert "user PIN 3/3 tries" in done.stdout
    assert USER_PIN not in done.stdout
    bad = util(store, "create-app", "dev1", "other", "--admin-pin-env", "NOPE", "--user-pin-env", "NOPE")
    assert bad.returncode == 2 and "NOPE" in bad.stderr
    good = util(store, "create-app", "dev1", "other", "--admin-pin-env", "A", "--user-pin-env", "U",
                "--user-retries", "5", env={"A": "admin8642", "U": "user13579"})
    assert good.returncode == 0, good.stderr
    assert "app other: admin PIN 10/10 tries, user PIN 5/5 tries" in util(store, "list").stdout
