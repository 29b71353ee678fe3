"""`sitoken sign-batch` as a real process on two SoftHSM tokens; openssl checks the signatures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cli_support import Outcome, converse
from sitoken.pkcs11 import Pkcs11Token

pytestmark = pytest.mark.softhsm


def _run(*args: str, input: str | None = None, pin: str) -> Outcome:
    done = subprocess.run([sys.executable, "-m", "sitoken", *args], input=input, capture_output=True, text=True,
                          env={**os.environ, "PIN": pin}, timeout=120)
    return Outcome(done.returncode, done.stdout, done.stderr)


def _files(directory: Path, count: int) -> list[Path]:
    directory.mkdir()
    paths = [directory / f"doc-{i}.txt" for i in range(count)]
    for i, path in enumerate(paths):
        path.write_text(f"申请表 {i}\n")
    return paths


def _public_keys(tokens: list[Pkcs11Token], key: str, directory: Path) -> list[Path]:
    out = []
    for token in tokens:
        der = directory / f"{token.label}.der"
        der.write_bytes(token.public_key_der(key))
        out.append(der)
    return out


def _verified_by(signature: Path, data: Path, keys: list[Path]) -> list[str]:
    return [key.stem for key in keys if subprocess.run(
        ["openssl", "dgst", "-sha256", "-verify", str(key), "-keyform", "DER", "-signature", str(signature),
         str(data)], capture_output=True).returncode == 0]


def test_paths_on_stdin_two_tokens_json_and_openssl(tokens: list[Pkcs11Token], pool_pin: str, tmp_path: Path) -> None:
    paths = _files(tmp_path / "in", 12)
    args = ["sign-batch", "--key", "p256", "--out-dir", str(tmp_path / "sigs"), "--pin-env", "PIN", "--json"]
    for token in tokens:
        args += ["--token", token.label]
    done = _run(*args, input="\n".join(map(str, paths)) + "\n", pin=pool_pin)
    assert done.code == 0, done.err
    report = done.json()
    assert report["signed"] == 12 and report["tokens"] == [t.label for t in tokens]
    assert report["mechanism"] == "ecdsa-sha256"
    keys = _public_keys(tokens, "p256", tmp_path)
    for pair in report["files"]:
        assert len(_verified_by(Path(pair["signature"]), Path(pair["input"]), keys)) == 1

    again = _run(*args[:-1], *map(str, paths), pin=pool_pin)  # the signatures exist now
    assert again.code == 7 and "exists" in again.err
    assert {p.name for p in (tmp_path / "sigs").iterdir()} == {p.name + ".sig" for p in paths}


def test_nothing_is_signed_when_an_input_is_missing(tokens: list[Pkcs11Token], pool_pin: str, tmp_path: Path) -> None:
    paths = _files(tmp_path / "in", 3)
    done = _run("sign-batch", "--token", tokens[0].label, "--key", "rsa", "--out-dir", str(tmp_path / "sigs"),
                "--pin-env", "PIN", "--json", str(paths[0]), str(tmp_path / "missing.txt"), pin=pool_pin)
    assert done.code == 7 and json.loads(done.out or done.err)["error"] == "invalid-input"
    assert not (tmp_path / "sigs").exists()


def test_a_progress_bar_on_a_terminal(tokens: list[Pkcs11Token], pool_pin: str, tmp_path: Path) -> None:
    paths = _files(tmp_path / "in", 4)
    code, screen = converse(["sign-batch", "--token", tokens[1].label, "--key", "rsa", "--out-dir",
                             str(tmp_path / "sigs"), "--pin-env", "PIN", *map(str, paths)], [],
                            env={**os.environ, "PIN": pool_pin})
    assert code == 0, screen
    assert "signing" in screen and "100%" in screen and "signed 4 files" in screen
    keys = _public_keys(tokens[1:], "rsa", tmp_path)
    assert all(_verified_by(tmp_path / "sigs" / (p.name + ".sig"), p, keys) for p in paths)
