"""No PIN in the text, repr, args, to_dict or cause of any error a wrong, weak or locked PIN raises.

Every PIN path of both drivers is driven into failure with distinctive PINs: a wrong PIN, a PIN
the policy refuses, the last try refused by the guard, a locked PIN (the card: SoftHSM never
locks), a wrong SO/admin PIN. Every exception is searched in text, hex and UTF-16 forms, along
with the repr of Pin, tokens, token info and the card driver's kept login state.
"""

from __future__ import annotations

import json
import logging
import pickle
from collections.abc import Callable
from pathlib import Path

import pytest
from hygiene_support import CARD_WRONG_PIN, NEW_PIN, SO_PIN, USER_PIN, WEAK_PIN, WRONG_PIN, leaks
from testbed.pcsc_bed import PcscBed

from sitoken.errors import FinalTryGuard, PinIncorrect, PinLocked, PinPolicyError, SitokenError
from sitoken.pin import Pin, PinPolicy
from sitoken.pkcs11 import Pkcs11Token, free_slot
from sitoken.token import KeyType


def _exception_texts(exc: BaseException) -> list[str]:
    texts = []
    seen: BaseException | None = exc
    while seen is not None:
        texts += [str(seen), repr(seen), repr(seen.args)]
        if isinstance(seen, SitokenError):
            texts.append(json.dumps(seen.to_dict(), default=str))
        seen = seen.__cause__ or seen.__context__
    return texts


def _raised(call: Callable[[], object], expected: type[BaseException]) -> BaseException:
    with pytest.raises(expected) as info:
        call()
    return info.value


def _assert_clean(errors: dict[str, BaseException]) -> None:
    for name, exc in errors.items():
        for text in _exception_texts(exc):
            assert leaks(text) == [], f"{name}: PIN in {text!r}"


def test_pin_object_never_shows_its_value() -> None:
    pin = Pin(USER_PIN)
    shown = [repr(pin), str(pin), f"{pin}", f"{pin!r}", repr([pin]), repr({"pin": pin}),
             json.dumps({"pin": pin}, default=str), "%s %r" % (pin, pin)]  # noqa: UP031 - the old form too
    assert all(leaks(text) == [] for text in shown), shown
    with pytest.raises(TypeError):
        pickle.dumps(pin)
    assert pin.reveal() == USER_PIN.encode()  # it does hold the value: the checks above could fail
    pin.wipe()
    assert leaks(bytes(pin.buffer())) == []


@pytest.mark.softhsm
def test_pkcs11_pin_errors_carry_no_pin(module, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    token = Pkcs11Token(module, free_slot(module))
    token.init_token(Pin(SO_PIN), "hygiene-p11")
    token.init_pin(Pin(SO_PIN), Pin(USER_PIN))
    errors = {
        "wrong user PIN": _raised(lambda: token.login(Pin(WRONG_PIN)), PinIncorrect),
        "wrong SO PIN": _raised(lambda: token.reset_pin(Pin(WRONG_PIN), Pin(NEW_PIN)), PinIncorrect),
        "weak new PIN": _raised(lambda: token.change_pin(Pin(USER_PIN), Pin(WEAK_PIN)), PinPolicyError),
        "new PIN = SO PIN": _raised(lambda: token.init_pin(Pin(SO_PIN), Pin("Qz7so9Wv")), PinPolicyError),
        "wrong old PIN": _raised(lambda: token.change_pin(Pin(WRONG_PIN), Pin(NEW_PIN)), PinIncorrect),
        "weak SO PIN": _raised(lambda: token.change_so_pin(Pin(SO_PIN), Pin("11111111")), PinPolicyError),
    }
    _assert_clean(errors)
    token.login(Pin(USER_PIN))
    token.generate_key(KeyType.EC_P256, "k")
    shown = [repr(token), repr(token.info()), json.dumps(token.info().to_dict()), repr(token.keys()),
             repr(module), caplog.text]
    assert all(leaks(text) == [] for text in shown), [t for t in shown if leaks(t)]
    token.close()


@pytest.mark.pcsc
def test_card_pin_errors_carry_no_pin(pcsc_bed: PcscBed, card: Path, caplog: pytest.LogCaptureFixture) -> None:
    from sitoken.pcsc.openpgp import OpenPgpCard

    caplog.set_level(logging.DEBUG)  # the sitoken.apdu traffic log included
    policy = PinPolicy()
    with OpenPgpCard.open(pcsc_bed.reader_name(0), policy=policy) as token:
        errors: dict[str, BaseException] = {
            "weak new PIN": _raised(lambda: token.change_pin(Pin("123456"), Pin(WEAK_PIN)), PinPolicyError),
            "wrong admin PIN": _raised(lambda: token.login_admin(Pin("Qz7adm1Xq")), PinIncorrect),
            "wrong PIN 1": _raised(lambda: token.login(Pin(CARD_WRONG_PIN)), PinIncorrect),
            "wrong PIN 2": _raised(lambda: token.login(Pin(CARD_WRONG_PIN)), PinIncorrect),
            "final try guard": _raised(lambda: token.login(Pin(CARD_WRONG_PIN)), FinalTryGuard),
            "wrong PIN, now locked": _raised(lambda: token.login(Pin(CARD_WRONG_PIN), force=True), PinLocked),
            "locked": _raised(lambda: token.login(Pin("123456")), PinLocked),
        }
        _assert_clean(errors)
        token.reset_pin(Pin("12345678"), Pin(NEW_PIN))
        token.login(Pin(NEW_PIN))  # the driver now keeps a copy of the PIN for re-verification
        shown = [repr(token), repr(vars(token)), repr(token.info()), json.dumps(token.info().to_dict()), caplog.text]
        assert all(leaks(text) == [] for text in shown), [t[:200] for t in shown if leaks(t)]
        assert "sitoken.apdu" in caplog.text or "VERIFY" in caplog.text, "no traffic was logged"
