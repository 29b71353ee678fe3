"""The CLI on the software SKF token, as a new user tries it: sim create --skf, an SM2 key, a signature
that openssl verifies, wrong PINs counting down to the lock, the admin PIN unblocking; --json and exit codes."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from cli_support import Outcome, invoke
from sitoken.cli import exitcodes
from skf_bed import SO_PIN, USER_PIN, openssl_verifies

PINS = {"SO": SO_PIN, "PIN": USER_PIN, "NEW": "n3wpin88x", "BAD": "wrong9pin", "DEVKEY": b"1234567812345678".hex()}
_names = itertools.count(1)


@pytest.fixture()
def cli(skf_library: str) -> Callable[..., Outcome]:
    def run(*args: str) -> Outcome:
        return invoke(list(args), PINS)

    return run


@pytest.fixture()
def device(cli: Callable[..., Outcome]) -> str:
    name = f"cli{next(_names)}"
    done = cli("sim", "create", "--skf", name, "--so-pin-env", "SO", "--pin-env", "PIN", "--json")
    assert done.code == 0, done.err
    assert done.json()["uri"] == f"skf:{name}/{name}" and done.json()["pin"]["remaining"] == 6
    return name


def test_new_user_flow_sm2_key_and_a_signature_openssl_verifies(
    tmp_path: Path, cli: Callable[..., Outcome], device: str
) -> None:
    sel = ["--module", "skf", "--token", device]
    assert cli("key", "generate", *sel, "--type", "sm2", "--label", "sign1", "--pin-env", "PIN").code == 0
    (tmp_path / "doc").write_bytes(b"a contract")
    signed = subprocess.run(  # one real process, as a user runs it
        [sys.executable, "-m", "sitoken", "sign", *sel, "--key", "sign1", "--in", str(tmp_path / "doc"),
         "--out", str(tmp_path / "doc.sig"), "--mechanism", "sm2-sm3", "--pin-env", "PIN", "--json"],
        capture_output=True, text=True, env={**os.environ, **PINS}, timeout=120, check=False)
    assert signed.returncode == 0 and json.loads(signed.stdout)["mechanism"] == "sm2-sm3", signed.stderr
    assert cli("key", "export", *sel, "--key", "sign1", "--out", str(tmp_path / "pub.pem")).code == 0
    checked = subprocess.run(["openssl", "dgst", "-sm3", "-verify", str(tmp_path / "pub.pem"), "-sigopt",
                              "distid:1234567812345678", "-signature", str(tmp_path / "doc.sig"),
                              str(tmp_path / "doc")], capture_output=True, text=True, check=False)
    assert checked.returncode == 0 and "Verified OK" in checked.stdout
    verified = cli("verify", "--pubkey", str(tmp_path / "pub.pem"), "--in", str(tmp_path / "doc"),
                   "--sig", str(tmp_path / "doc.sig"), "--json")
    assert verified.code == 0 and verified.json()["valid"] is True
    other_id = cli("verify", "--pubkey", str(tmp_path / "pub.pem"), "--in", str(tmp_path / "doc"),
                   "--sig", str(tmp_path / "doc.sig"), "--sm2-id", "someone-else")
    assert other_id.code == exitcodes.SIGNATURE_INVALID
    (tmp_path / "doc").write_bytes(b"a contract, altered")
    assert cli("verify", *sel, "--key", "sign1", "--on-token", "--in", str(tmp_path / "doc"),
               "--sig", str(tmp_path / "doc.sig")).code == exitcodes.SIGNATURE_INVALID


def test_wrong_pins_count_down_lock_and_the_admin_pin_unblocks(cli: Callable[..., Outcome], device: str) -> None:
    sel = ["--module", "skf", "--token", device]
    for left in (5, 4, 3, 2, 1):
        wrong = cli("-vv", "pin", "change", *sel, "--pin-env", "BAD", "--new-pin-env", "NEW", "--json")
        assert wrong.code == exitcodes.PIN_INCORRECT and wrong.json()["remaining"] == left
        assert "SKF_ChangePIN() -> SAR_PIN_INCORRECT" in wrong.err  # traced, the PINs not
        assert PINS["BAD"] not in wrong.out + wrong.err and PINS["NEW"] not in wrong.err
    status = cli("pin", "status", *sel, "--json").json()
    assert (status["user"]["state"], status["user"]["remaining"]) == ("final-try", 1)
    guarded = cli("pin", "change", *sel, "--pin-env", "PIN", "--new-pin-env", "NEW")
    assert guarded.code == exitcodes.PIN_FINAL_TRY
    locked = cli("pin", "change", *sel, "--pin-env", "BAD", "--new-pin-env", "NEW", "--allow-final-try")
    assert locked.code == exitcodes.PIN_LOCKED
    assert cli("pin", "status", *sel, "--json").json()["user"]["state"] == "locked"
    reset = cli("pin", "reset", *sel, "--so-pin-env", "SO", "--new-pin-env", "NEW", "--json")
    assert reset.code == 0, reset.err
    status = cli("pin", "status", *sel, "--json").json()
    assert (status["user"]["remaining"], status["user"]["maximum"]) == (6, 6)
    assert cli("key", "list", *sel, "--pin-env", "NEW", "--json").json() == []


def test_tokens_doctor_and_token_init_with_the_device_key(
    tmp_path: Path, cli: Callable[..., Outcome], device: str
) -> None:
    listed = cli("tokens", "--module", "skf", "--json")
    assert any(t["uri"] == f"skf:{device}/{device}" and t["driver"] == "skf" for t in listed.json())
    doctor = cli("doctor", "--module", "skf", "--token", device, "--json").json()
    assert any(lib["name"] == "softskf" for lib in doctor["skf_libraries_found"])
    assert doctor["capabilities"]["exact_retries"] and "sm2" in doctor["capabilities"]["key_types"]
    sel = ["--module", "skf", "--token", device]
    no_key = cli("token", "init", *sel, "--label", "SOCIAL", "--so-pin-env", "SO", "--force")
    assert no_key.code == exitcodes.INVALID_INPUT and "device authentication key" in no_key.err
    key_file = tmp_path / "devkey"
    key_file.write_text(PINS["DEVKEY"] + "\n")
    key_file.chmod(0o644)
    readable = cli("token", "init", *sel, "--label", "SOCIAL", "--so-pin-env", "SO", "--device-key-file",
                   str(key_file), "--force")
    assert readable.code == exitcodes.INVALID_INPUT and "readable by others" in readable.err
    assert PINS["DEVKEY"] not in readable.out + readable.err
    done = cli("token", "init", *sel, "--label", "SOCIAL", "--so-pin-env", "SO", "--device-key-env", "DEVKEY",
               "--user-retries", "3", "--so-retries", "5", "--force", "--json")
    assert done.code == 0, done.err
    assert (done.json()["uri"], done.json()["so_pin"]["maximum"]) == (f"skf:{device}/SOCIAL", 5)
    assert cli("pin", "init", *sel, "--so-pin-env", "SO", "--new-pin-env", "PIN").code == 0
    assert cli("pin", "status", "--module", "skf", "--token", f"{device}/SOCIAL", "--json").json()["user"][
        "maximum"] == 3


def test_sign_batch_on_an_skf_key(tmp_path: Path, cli: Callable[..., Outcome], device: str) -> None:
    from sitoken import sm2

    sel = ["--module", "skf", "--token", device]
    assert cli("key", "generate", *sel, "--type", "sm2", "--label", "sign1", "--pin-env", "PIN").code == 0
    files = []
    for i in range(40):
        files.append(tmp_path / f"record{i}.xml")
        files[-1].write_bytes(f"<record n='{i}'/>".encode())
    done = cli("sign-batch", *sel, "--key", "sign1", "--out-dir", str(tmp_path / "sigs"), "--pin-env", "PIN",
               "--json", *map(str, files))
    assert done.code == 0, done.err
    assert (done.json()["signed"], done.json()["mechanism"]) == (40, "sm2-sm3")
    assert cli("key", "export", *sel, "--key", "sign1", "--format", "der", "--out", str(tmp_path / "pub.der")).code == 0
    public = sm2.Sm2PublicKey((tmp_path / "pub.der").read_bytes())
    for path in files:
        assert public.verify(path.read_bytes(), (tmp_path / "sigs" / (path.name + ".sig")).read_bytes())
    assert openssl_verifies(public.spki, files[7].read_bytes(), (tmp_path / "sigs" / "record7.xml.sig").read_bytes())
