"""The holder's PIN may not contain their birth date or six digits in a row of their ID number.

Checked in the workflow before the PIN reaches the token (the token's user PIN stays unset),
and by the policy for every form: the workflow tests fail if the check is taken out of it.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from prov_support import ORG, PERSON, validated

from sitoken.discovery import open_token
from sitoken.errors import PinPolicyError
from sitoken.pin import HolderContext, Pin, PinPolicy
from sitoken.provisioning.holder_pins import holder_context

ID_NUMBER = PERSON["id_number"]  # 110105 19900307 123 9: born 7 March 1990


@pytest.mark.parametrize(("pin", "reason"), [
    ("k19900307", "birth date"),  # the PIN holds YYYYMMDD
    ("q071239z", "digits in a row"),  # the PIN holds the last six digits of the ID number
])
def test_provisioning_refuses_the_holders_own_numbers_before_the_token(
        make_counter: Any, pin: str, reason: str) -> None:
    with pytest.raises(PinPolicyError) as refused:
        make_counter(holder_pin=pin).provision(validated(PERSON))
    assert any(reason in r for r in refused.value.reasons), refused.value.reasons
    assert pin not in str(refused.value) and ID_NUMBER not in str(refused.value)
    stuck = make_counter().journal.open_enrolment(ID_NUMBER)
    assert stuck is not None and stuck.state == "token-ready"
    assert not open_token(stuck.token_label).pin_status().initialized  # nothing reached the token


@pytest.mark.parametrize("pin", ["k19900307", "ab900307", "xy0307ab", "07031990a", "k105199m", "a1b003071"])
def test_every_form_of_birth_date_and_id_digits_is_refused(pin: str) -> None:
    assert PinPolicy().violations(Pin(pin), holder=holder_context(ID_NUMBER)) != []


@pytest.mark.parametrize("pin", ["k1990x03a7", "ab90030x", "k10519m8", "ja7cz39m"])
def test_near_misses_are_allowed(pin: str) -> None:
    """Five digits of the ID in a row, or the date split by a letter, are not the holder's numbers."""
    assert PinPolicy().violations(Pin(pin), holder=holder_context(ID_NUMBER)) == []


def test_the_context_reads_the_birth_date_only_from_a_resident_id() -> None:
    assert holder_context(ID_NUMBER) == HolderContext(ID_NUMBER, date(1990, 3, 7))
    org = holder_context(ORG["credit_code"])
    assert org.birth_date is None
    digits = next(ORG["credit_code"][i:i + 6] for i in range(13) if ORG["credit_code"][i:i + 6].isdigit())
    assert PinPolicy().violations(Pin(f"x{digits}y"), holder=org) != []
    assert ID_NUMBER not in repr(holder_context(ID_NUMBER))
