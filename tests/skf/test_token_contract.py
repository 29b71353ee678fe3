"""The Token contract, run on SoftHSM (PKCS#11) and on the software SKF token, gated by capabilities.

Only the Token interface is used, so what passes here holds for any driver: the PIN lifecycle,
key generation of the token's own key types, signing that the host verifies, key lookup by id,
certificates bound to their key pair, deletion. Driver-specific checks stay in each bed's suite.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from sitoken import pubkey, skf
from sitoken.errors import FinalTryGuard, KeyNotFound, PinIncorrect, PinLocked
from sitoken.pin import Pin, PinRole
from sitoken.token import KeyType, Token
from skf_bed import SO_PIN, USER_PIN, new_skf_token, self_signed_certificate

WRONG = "wrong7pin"


@dataclass
class Bed:
    token: Token
    locks_pins: bool  # SoftHSM never locks a PIN (flags only); SKF counts down to 0


@pytest.fixture(params=[pytest.param("softhsm", marks=pytest.mark.softhsm), "skf"])
def bed(request: pytest.FixtureRequest) -> Iterator[Bed]:
    if request.param == "softhsm":
        token = request.getfixturevalue("fresh_token")
        assert (request.getfixturevalue("so_pin"), request.getfixturevalue("user_pin")) == (SO_PIN, USER_PIN)
        yield Bed(token, locks_pins=False)
        return
    request.getfixturevalue("skf_library")
    token = skf.open_token("skf", new_skf_token())
    yield Bed(token, locks_pins=True)
    token.close()


def _own_key_type(token: Token) -> KeyType:
    """SM2 where the token has it (the national default), else its first type."""
    types = token.capabilities.key_types
    return KeyType.SM2 if KeyType.SM2 in types else types[0]


def test_wrong_pin_then_right_pin(bed: Bed) -> None:
    token = bed.token
    before = token.pin_status()
    with pytest.raises(PinIncorrect) as wrong:
        token.login(Pin(WRONG))
    assert wrong.value.rv is not None and wrong.value.function and WRONG not in str(wrong.value)
    if token.capabilities.exact_retries:
        assert before.remaining is not None and wrong.value.remaining == before.remaining - 1
        assert token.pin_status().remaining == before.remaining - 1
    token.login(Pin(USER_PIN))
    after = token.pin_status()
    assert after.state == "ok" or after.must_change
    if token.capabilities.exact_retries:
        assert after.remaining == after.maximum


def test_final_try_guard_lock_and_admin_reset(bed: Bed) -> None:
    if not bed.locks_pins:
        pytest.skip("this bed never locks a PIN: lockout runs on the SKF token and the card")
    token = bed.token
    while (token.pin_status().remaining or 0) > 1:
        with pytest.raises(PinIncorrect):
            token.login(Pin(WRONG))
    with pytest.raises(FinalTryGuard):
        token.login(Pin(USER_PIN))
    with pytest.raises(PinLocked):
        token.login(Pin(WRONG), force=True)
    assert token.pin_status().locked
    assert token.capabilities.can_unblock
    token.reset_pin(Pin(SO_PIN), Pin("fresh8pin"))
    token.login(Pin("fresh8pin"))
    assert token.pin_status(PinRole.USER).state in ("ok", "must-change")


def test_generated_key_signs_what_the_host_verifies(bed: Bed) -> None:
    token = bed.token
    token.login(Pin(USER_PIN))
    key_type = _own_key_type(token)
    info = token.generate_key(key_type, "contract-key", None if key_type is KeyType.SM2 else b"\x42")
    assert info.key_type is key_type and info.has_private
    assert token.find_key(f"id:{info.id}").label == info.label
    assert info.label in [k.label for k in token.keys()]
    spki = token.public_key_der(info.label)
    assert pubkey.key_type_of_spki(spki) is key_type
    mechanism = key_type.default_mechanism
    assert mechanism in token.capabilities.mechanisms
    signature = token.sign(info.label, b"counter record")
    assert pubkey.verify_host(spki, b"counter record", signature, mechanism)
    assert token.verify(info.label, b"counter record", signature)
    assert not token.verify(info.label, b"counter record!", signature)
    signatures = list(token.sign_many(info.label, [b"a", b"b", b"c"]))
    assert all(pubkey.verify_host(spki, m, s, mechanism) for m, s in zip([b"a", b"b", b"c"], signatures,
                                                                       strict=True))


def test_certificate_is_bound_to_its_key_pair_and_delete(bed: Bed) -> None:
    token = bed.token
    token.login(Pin(USER_PIN))
    key_type = _own_key_type(token)
    info = token.generate_key(key_type, "holder", None if key_type is KeyType.SM2 else b"\x43")
    der = self_signed_certificate()
    token.import_certificate(der, label=info.label, key_id=bytes.fromhex(info.id))
    stored = [c for c in token.certificates() if c.der == der]
    assert len(stored) == 1 and stored[0].id == info.id and not stored[0].authority
    if token.capabilities.can_delete_keys:
        token.delete_key(info.label)
        with pytest.raises(KeyNotFound):
            token.find_key(info.label)

