"""The PIN lifecycle on a real SoftHSM token."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bed_support import require
from sitoken.errors import InvalidInput, PinIncorrect, PinPolicyError
from sitoken.pin import Pin, PinRole
from sitoken.pkcs11 import Pkcs11Token

pytestmark = pytest.mark.softhsm

# Test-only PINs, the same as the conftest fixtures so_pin and user_pin.
SO_PIN = "so-pin-2468"
USER_PIN = "user7pin3"

SPY = "/usr/lib/x86_64-linux-gnu/pkcs11/pkcs11-spy.so"


def test_login_logout(fresh_token: Pkcs11Token) -> None:
    fresh_token.login(Pin(USER_PIN))
    assert fresh_token.keys() == []
    fresh_token.logout()


def test_wrong_pin_keeps_code_function_and_sets_count_low(fresh_token: Pkcs11Token) -> None:
    with pytest.raises(PinIncorrect) as info:
        fresh_token.login(Pin("wrong9pin"))
    assert info.value.rv == 0xA0 and info.value.function == "C_Login"
    assert "wrong9pin" not in str(info.value)
    status = fresh_token.pin_status(PinRole.USER)
    assert status.count_low and status.state == "count-low"
    fresh_token.login(Pin(USER_PIN))
    assert not fresh_token.pin_status().count_low


def test_change_pin(fresh_token: Pkcs11Token) -> None:
    fresh_token.change_pin(Pin(USER_PIN), Pin("n3wpin88x"))
    with pytest.raises(PinIncorrect):
        fresh_token.login(Pin(USER_PIN))
    fresh_token.login(Pin("n3wpin88x"))


def test_change_pin_with_wrong_old_pin(fresh_token: Pkcs11Token) -> None:
    with pytest.raises(PinIncorrect) as info:
        fresh_token.change_pin(Pin("wrong9pin"), Pin("n3wpin88x"))
    assert info.value.function == "C_SetPIN"
    fresh_token.login(Pin(USER_PIN))


def test_policy_violation_leaves_token_untouched(fresh_token: Pkcs11Token) -> None:
    for weak in ("123456", "abc123", "aaaaaa", "short1"[:5]):
        with pytest.raises(PinPolicyError):
            fresh_token.change_pin(Pin(USER_PIN), Pin(weak))
    # No failed attempt was counted and the old PIN still works.
    assert not fresh_token.pin_status().count_low
    fresh_token.login(Pin(USER_PIN))


def test_out_of_range_current_pin_is_not_sent(fresh_token: Pkcs11Token) -> None:
    with pytest.raises(InvalidInput):
        fresh_token.login(Pin("x" * 300))
    assert not fresh_token.pin_status().count_low


def test_admin_reset_of_forgotten_pin(fresh_token: Pkcs11Token) -> None:
    with pytest.raises(PinIncorrect):
        fresh_token.login(Pin("forgot1it"))
    fresh_token.reset_pin(Pin(SO_PIN), Pin("r5t9pin2"))
    fresh_token.login(Pin("r5t9pin2"))
    assert not fresh_token.pin_status().count_low


def test_reset_with_wrong_so_pin(fresh_token: Pkcs11Token) -> None:
    with pytest.raises(PinIncorrect) as info:
        fresh_token.reset_pin(Pin("wrong-so-pin"), Pin("r5t9pin2"))
    assert info.value.function == "C_Login"
    assert fresh_token.pin_status(PinRole.SO).count_low
    fresh_token.login(Pin(USER_PIN))


def test_change_so_pin(fresh_token: Pkcs11Token) -> None:
    fresh_token.change_so_pin(Pin(SO_PIN), Pin("so-new-1357"))
    with pytest.raises(PinIncorrect):
        fresh_token.reset_pin(Pin(SO_PIN), Pin("r5t9pin2"))
    fresh_token.reset_pin(Pin("so-new-1357"), Pin("r5t9pin2"))
    fresh_token.login(Pin("r5t9pin2"))


def test_new_user_pin_must_differ_from_so_pin(fresh_token: Pkcs11Token) -> None:
    with pytest.raises(PinPolicyError):
        fresh_token.reset_pin(Pin("so7pin2x"), Pin("so7pin2x"))


def test_policy_violation_never_reaches_the_module(fresh_token: Pkcs11Token, tmp_path: Path) -> None:
    """OpenSC's pkcs11-spy logs every call the CLI makes: a weak PIN causes no PIN call at all."""
    require(os.path.exists(SPY), "OpenSC's pkcs11-spy (Debian package opensc-pkcs11)")
    log = tmp_path / "spy.log"
    env = {
        **os.environ, "PKCS11SPY": fresh_token.module.path, "PKCS11SPY_OUTPUT": str(log),
        "OLD": USER_PIN, "NEW": "123456",
    }
    cmd = [sys.executable, "-m", "sitoken", "pin", "change", "--module", SPY,
           "--token", fresh_token.label, "--pin-env", "OLD", "--new-pin-env", "NEW"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 7, done.stderr
    calls = log.read_text()
    assert "C_GetTokenInfo" in calls or "C_Initialize" in calls  # the spy did see the process
    for pin_call in ("C_SetPIN", "C_Login", "C_InitPIN"):
        assert pin_call not in calls
    # And the same command with a good PIN does reach C_SetPIN through the spy.
    env["NEW"] = "g00dpin7x"
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "C_SetPIN" in log.read_text()
