"""PIN secret type, policy and status: pure code, no token."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sitoken.errors import InvalidInput, PinPolicyError
from sitoken.pin import SO_PIN_POLICY, Pin, PinPolicy, PinRole, PinStatus

POLICY = PinPolicy()


@pytest.mark.parametrize(
    "text",
    ["k7w2demo", "Zhang2026x", "a1s9d8f7", "pa55word", "x9y8z7w6q5", "m1x3d5q7w9e2"],
)
def test_good_pins_pass(text: str) -> None:
    assert POLICY.violations(Pin(text)) == []


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("123456", "known default"),
        ("111111", "known default"),
        ("abcdef", "straight run"),
        ("abc123", "known default"),
        ("abc12345", "known default"),
        ("bcd234", "straight run"),
        ("fed987", "straight run"),
        ("ab12ab12", "repeat a short pattern"),
        ("a1a1a1", "repeat a short pattern"),
        ("aaaaaa", "repeat one character"),
        ("abcdefgh", "a digit"),
        ("12873465", "a letter"),
        ("a1b2c", "length"),
        ("a1b2c3d4e5f6g", "length"),
        ("pass word1", "printable"),
        ("pässw0rd", "printable"),
    ],
)
def test_weak_or_malformed_pins_are_refused(text: str, reason: str) -> None:
    reasons = POLICY.violations(Pin(text))
    assert any(reason in r for r in reasons), reasons


def test_policy_error_never_quotes_the_pin() -> None:
    with pytest.raises(PinPolicyError) as info:
        POLICY.enforce(Pin("abc123"))
    assert "abc123" not in str(info.value)
    assert info.value.reasons


def test_pin_must_not_be_part_of_the_id_number() -> None:
    reasons = POLICY.violations(Pin("19491231002x"), avoid=["11010519491231002X"])
    assert any("ID number" in r for r in reasons)


def test_policy_is_configurable() -> None:
    strict = PinPolicy(min_length=8, require_upper=True, require_symbol=True)
    assert strict.violations(Pin("Ab3$efgh")) == []
    assert any("symbol" in r for r in strict.violations(Pin("Ab3defgh")))
    assert SO_PIN_POLICY.violations(Pin("so-pin-2468")) == []


def test_pin_never_prints_or_pickles() -> None:
    pin = Pin("s3cretPIN")
    assert "s3cret" not in repr(pin) and "s3cret" not in str(pin) and "s3cret" not in f"{pin}"
    with pytest.raises(TypeError):
        pickle.dumps(pin)


def test_pin_wipe_zeroes_and_refuses_reuse() -> None:
    pin = Pin("s3cretPIN")
    buffer = pin.buffer()
    with pin:
        assert pin.reveal() == b"s3cretPIN"
    assert bytes(buffer) == b"\x00" * 9
    with pytest.raises(InvalidInput):
        pin.reveal()


def test_pin_from_text_drops_one_newline_only() -> None:
    assert Pin.from_text("abc\n").reveal() == b"abc"
    assert Pin.from_text("abc\r\n").reveal() == b"abc"
    assert Pin.from_text("abc \n").reveal() == b"abc "


def test_pins_compare_by_value() -> None:
    assert Pin("a1b2c3x") == Pin("a1b2c3x")
    assert Pin("a1b2c3x") != Pin("a1b2c3y")


@given(st.text(max_size=40))
def test_policy_never_crashes(text: str) -> None:
    reasons = POLICY.violations(Pin(text))
    assert isinstance(reasons, list)


def test_status_words() -> None:
    assert PinStatus(locked=True).state == "locked"
    assert PinStatus(final_try=True).describe() == "one try left"
    exact = PinStatus(PinRole.USER, remaining=1, maximum=3)
    assert exact.describe() == "1 try left of 3"
    assert PinStatus(initialized=False).state == "not-initialized"
    assert PinStatus(must_change=True).to_dict()["state"] == "must-change"
