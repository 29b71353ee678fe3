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

# Every child process starts here: the suite's own client, dev1 connected, an application open.
PRELUDE = """
import sys
sys.path.insert(0, {here!r})
from skf_client import ffi, load, connect, check
lib = load()
dev = connect(lib, "dev1")
app = ffi.new("HANDLE *")
check("open", lib.SKF_OpenApplication(dev, {app!r}.encode(), app))
retry = ffi.new("ULONG *")
"""

CREATE_CONTAINERS = """
check("verify", lib.SKF_VerifyPIN(app[0], 1, {pin!r}.encode(), retry))
h = ffi.new("HANDLE *")
for i in range({count}):
    check("create", lib.SKF_CreateContainer(app[0], ({prefix!r} + str(i)).encode(), h))
print("done")
"""


def _spawn(body: str, app: str = "app", env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    code = PRELUDE.format(here=str(HERE), app=app) + body
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, **(env or {})})


def _child(prefix: str, count: int, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return _spawn(CREATE_CONTAINERS.format(pin=USER_PIN, count=count, prefix=prefix), env=env)


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
    child = _spawn("m, d = ffi.new('ULONG *'), ffi.new('BOOL *')\n"
                   "check('info', lib.SKF_GetPINInfo(app[0], 1, m, retry, d)); print(m[0], retry[0])\n")
    out, err = child.communicate(timeout=60)
    assert out.split() == ["3", "2"], err


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


WRONG_PINS = """
for _ in range(6):
    assert lib.SKF_VerifyPIN(app[0], 1, b"wrong-pin", retry) == 0x0A000024
print("done")
"""


def test_wrong_pins_from_two_processes_count_exactly(session: Session) -> None:
    app = ffi.new("HANDLE *")
    assert session.lib.SKF_CreateApplication(session.dev, b"many", b"admin8642", 15, USER_PIN.encode(), 15,
                                             0xFF, app) == SAR["OK"]
    children = [_spawn(WRONG_PINS, app="many") for _ in range(2)]
    for child in children:
        out, err = child.communicate(timeout=60)
        assert out.strip() == "done", err
    mx, rem, dflt = ffi.new("ULONG *"), ffi.new("ULONG *"), ffi.new("BOOL *")
    assert session.lib.SKF_GetPINInfo(app[0], 1, mx, rem, dflt) == SAR["OK"]
    assert (mx[0], rem[0]) == (15, 3)
