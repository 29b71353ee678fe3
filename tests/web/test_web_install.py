"""`sitoken web install`: host manifests where each browser looks, a launcher that runs the host, --uninstall."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_native_host import STANDIN, frame, replies

from sitoken.cli import exitcodes

EXTENSION_ID = "abcdefghijklmnopabcdefghijklmnop"


def sitoken(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sitoken", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "HOME": str(home)}, check=False)


def test_chromium_profile_manifest_and_a_launcher_that_answers(tmp_path: Path) -> None:
    profile = tmp_path / "profile"
    done = sitoken("--pinentry", STANDIN, "--token", "no-such-token", "web", "install", "--browser", "chromium",
                   "--user-data-dir", str(profile), "--extension-id", EXTENSION_ID, "--json", home=tmp_path)
    assert done.returncode == 0, done.stderr
    files = json.loads(done.stdout)
    manifest = json.loads((profile / "NativeMessagingHosts" / "cn.sitoken.web.json").read_text())
    assert files["manifest"] == str(profile / "NativeMessagingHosts" / "cn.sitoken.web.json")
    assert manifest["allowed_origins"] == [f"chrome-extension://{EXTENSION_ID}/"]
    assert manifest["type"] == "stdio" and manifest["path"] == files["launcher"]
    # The launcher is what the browser runs, with the extension's origin as its argument.
    ran = subprocess.run([manifest["path"], f"chrome-extension://{EXTENSION_ID}/"], timeout=60, capture_output=True,
                         input=frame({"id": 7, "origin": "https://portal.test", "operation": "status"}), check=False)
    (status,) = replies(ran.stdout)
    assert status["id"] == 7 and status["ok"] and status["result"]["token"] is None
    assert status["result"]["reason"] == "token-not-found"


def test_firefox_manifest_in_the_home_directory_and_uninstall(tmp_path: Path) -> None:
    args = ("--pinentry", STANDIN, "web", "install", "--browser", "firefox")  # sitoken's own extension by default
    assert sitoken(*args, home=tmp_path).returncode == 0
    path = tmp_path / ".mozilla" / "native-messaging-hosts" / "cn.sitoken.web.json"
    assert json.loads(path.read_text())["allowed_extensions"] == ["web@sitoken.cn"]
    assert sitoken(*args, "--uninstall", home=tmp_path).returncode == 0
    assert not path.exists() and not path.with_suffix(".sh").exists()


@pytest.mark.parametrize("args", [
    ("--pinentry", STANDIN, "web", "install", "--extension-id", "not-an-id"),
    ("web", "install", "--extension-id", EXTENSION_ID),
    ("--pinentry", STANDIN, "web", "install", "--browser", "firefox", "--user-data-dir", "x", "--extension-id", "a@b"),
], ids=["bad-id", "no-pinentry", "firefox-profile-dir"])
def test_refused_installs_name_the_problem_and_write_nothing(tmp_path: Path, args: tuple[str, ...]) -> None:
    done = sitoken(*args, home=tmp_path)
    assert done.returncode == exitcodes.INVALID_INPUT, done.stderr
    assert not list(tmp_path.rglob("cn.sitoken.web.*"))
