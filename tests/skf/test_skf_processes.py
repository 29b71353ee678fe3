"""Several processes on one software SKF device, and a process killed in the middle of a write."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sitoken import skf, sm2
from sitoken.pin import Pin
from sitoken.token import KeyType
from skf_bed import USER_PIN

CHILD = Path(__file__).with_name("skf_child.py")


def _child(device: str, action: str, pin: str = USER_PIN, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(CHILD), device, action, pin], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **env})


def test_two_processes_sign_on_one_device_and_see_one_retry_counter(skf_token: skf.SkfToken) -> None:
    skf_token.login(Pin(USER_PIN))
    public = sm2.Sm2PublicKey(skf_token.public_key_der(skf_token.generate_key(KeyType.SM2, "sign1").label))
    children = [_child(skf_token.device, "15") for _ in range(2)]
    mine = [skf_token.sign("sign1", f"parent {i}".encode()) for i in range(15)]
    for child in children:
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
        lines = out.split()
        assert len(lines) == 15
        assert all(public.verify(f"child {i}".encode(), bytes.fromhex(s)) for i, s in enumerate(lines))
    assert all(public.verify(f"parent {i}".encode(), s) for i, s in enumerate(mine))
    wrong = _child(skf_token.device, "wrong-pin", "wrong7pin")
    out, _ = wrong.communicate(timeout=60)
    assert out.strip() == "5" and skf_token.pin_status().remaining == 5  # the count is the device's


def test_a_process_killed_mid_write_leaves_the_store_usable(tmp_path: Path, skf_token: skf.SkfToken) -> None:
    skf_token.login(Pin(USER_PIN))
    skf_token.generate_key(KeyType.SM2, "sign1")
    marker = tmp_path / "paused"
    child = _child(skf_token.device, "wrong-pin", "wrong7pin", SOFTSKF_TEST_PAUSE_WRITE=str(marker))
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert child.poll() is None and time.monotonic() < deadline, "the child never reached its write"
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    status = skf_token.pin_status()
    assert status.remaining in (5, 6) and status.maximum == 6  # the old state or the new, nothing torn
    skf_token.login(Pin(USER_PIN))
    assert [k.label for k in skf_token.keys()] == ["sign1"]
    signature = skf_token.sign("sign1", b"after the crash")
    assert skf_token.verify("sign1", b"after the crash", signature)
