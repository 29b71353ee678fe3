"""PIN lifecycle on the emulated OpenPGP card: exact counters, lockout, guard, unblock, policy."""

from __future__ import annotations

import logging

import pytest

from sitoken.errors import FinalTryGuard, PinIncorrect, PinLocked, PinPolicyError
from sitoken.pcsc.openpgp import OpenPgpCard
from sitoken.pin import Pin, PinRole

PIN, ADMIN = "123456", "12345678"
WRONG = "999999"


def tries(card: OpenPgpCard, role: PinRole = PinRole.USER) -> int | None:
    return card.pin_status(role).remaining


def test_fresh_card_reports_exact_counters(openpgp: OpenPgpCard) -> None:
    info = openpgp.info()
    assert (info.pin.remaining, info.pin.maximum, info.pin.state) == (3, 3, "ok")
    assert (info.so_pin.remaining, info.so_pin.state) == (3, "ok")
    assert info.driver == "pcsc" and info.uri == "pcsc:Virtual PCD 00 00"
    assert info.serial == "00000001" and info.model.startswith("OpenPGP card v3")


def test_three_wrong_pins_lock_with_exact_retries(openpgp: OpenPgpCard) -> None:
    with pytest.raises(PinIncorrect) as first:
        openpgp.login(Pin(WRONG))
    assert first.value.remaining == 2 and tries(openpgp) == 2
    with pytest.raises(PinIncorrect) as second:
        openpgp.login(Pin(WRONG))
    assert second.value.remaining == 1
    status = openpgp.pin_status()
    assert (status.remaining, status.final_try, status.state) == (1, True, "final-try")
    with pytest.raises(PinLocked) as third:
        openpgp.login(Pin(WRONG), force=True)
    assert third.value.remaining == 0
    assert openpgp.pin_status().locked
    with pytest.raises(PinLocked):  # refused before the card: even the right PIN
        openpgp.login(Pin(PIN))


def test_final_try_guard_refuses_without_force(openpgp: OpenPgpCard) -> None:
    for _ in range(2):
        with pytest.raises(PinIncorrect):
            openpgp.login(Pin(WRONG))
    with pytest.raises(FinalTryGuard):
        openpgp.login(Pin(PIN))  # even a right PIN is not sent on the last try
    assert tries(openpgp) == 1
    with pytest.raises(FinalTryGuard):
        openpgp.change_pin(Pin(PIN), Pin("Secur3pin"))
    assert tries(openpgp) == 1
    openpgp.login(Pin(PIN), force=True)
    assert tries(openpgp) == 3


def test_unblock_with_admin_pin_restores_counter(openpgp: OpenPgpCard) -> None:
    for _ in range(3):
        with pytest.raises((PinIncorrect, PinLocked)):
            openpgp.login(Pin(WRONG), force=True)
    assert openpgp.pin_status().locked
    openpgp.reset_pin(Pin(ADMIN), Pin("Hold3r99"))
    assert tries(openpgp) == 3
    assert tries(openpgp, PinRole.SO) == 3
    openpgp.login(Pin("Hold3r99"))


def test_policy_failing_new_pin_is_never_sent(openpgp: OpenPgpCard) -> None:
    with pytest.raises(PinIncorrect):
        openpgp.login(Pin(WRONG))
    before = (tries(openpgp), tries(openpgp, PinRole.SO))
    with pytest.raises(PinPolicyError):
        openpgp.change_pin(Pin(WRONG), Pin("123456"))  # weak: would also cost a try
    with pytest.raises(PinPolicyError):
        openpgp.reset_pin(Pin("00000000"), Pin("abc"))
    with pytest.raises(PinPolicyError):
        openpgp.change_so_pin(Pin(WRONG), Pin("short1"))
    assert (tries(openpgp), tries(openpgp, PinRole.SO)) == before == (2, 3)


def test_change_pin_and_admin_pin(openpgp: OpenPgpCard) -> None:
    openpgp.change_pin(Pin(PIN), Pin("Secur3pin"))
    openpgp.login(Pin("Secur3pin"))
    with pytest.raises(PinIncorrect) as wrong:
        openpgp.change_so_pin(Pin("87654321x"), Pin("Adm1n-pass"))
    assert wrong.value.remaining == 2
    openpgp.change_so_pin(Pin(ADMIN), Pin("Adm1n-pass"))
    assert tries(openpgp, PinRole.SO) == 3
    openpgp.login_admin(Pin("Adm1n-pass"))


def test_pins_never_reach_logs_or_errors(
    openpgp: OpenPgpCard, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="sitoken.apdu")
    with pytest.raises(PinIncorrect) as wrong:
        openpgp.login(Pin("777888"))
    openpgp.login(Pin(PIN))
    openpgp.change_pin(Pin(PIN), Pin("Secur3pin"))
    text = caplog.text
    assert "redacted" in text
    for secret in ("777888", PIN, "Secur3pin"):
        assert secret.encode().hex(" ").upper() not in text
        assert secret not in str(wrong.value) and secret not in repr(wrong.value)
