"""The Token contract, run on SoftHSM (PKCS#11), the software SKF token and the OpenPGP card (PC/SC).

Only the Token interface is used, so what passes here holds for any driver: the PIN lifecycle,
key generation of the token's own key types, signing that the host verifies, key lookup by id,
certificates bound to their key pair, deletion. What the interface does not say comes from each
bed (its PINs, the names its keys go under, the key types its driver must declare); what a token
cannot do is asked of its capabilities, and checked both ways (a declared inability must refuse).
Driver-specific checks stay in each bed's suite.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from pcsc_support import FACTORY_ADMIN_PIN, FACTORY_PIN
from sitoken import pubkey, skf
from sitoken.errors import FinalTryGuard, KeyNotFound, NotSupported, PinIncorrect, PinLocked
from sitoken.pcsc.openpgp import OpenPgpCard
from sitoken.pin import Pin, PinRole
from sitoken.token import KeyType, Token
from skf_bed import SO_PIN, USER_PIN, new_skf_token, self_signed_certificate

WRONG = "wrong7pin"


@dataclass(frozen=True)
class KeyName:
    """Where a test's key goes: a label and CKA_ID the caller picks, or a card's fixed slot."""

    label: str
    key_id: bytes | None = None


@dataclass
class Bed:
    """One token of one driver, and what the contract must know that the Token interface does not say."""

    token: Token
    user_pin: str
    so_pin: str
    key_types: tuple[KeyType, ...]  # what the driver must declare, in order
    key_type: KeyType  # the one the tests generate (the token's own: SM2 on SKF)
    signing_key: KeyName
    holder_key: KeyName
    locks_pins: bool  # SoftHSM never locks a PIN (flags only); SKF and the card count down to 0

    def log_in_for_keys(self) -> None:
        """The user PIN, and the admin PIN where the driver says key writes need it (a card's PW3)."""
        self.token.login(Pin(self.user_pin))
        if self.token.capabilities.keygen_needs_so_pin:
            self.token.login_admin(Pin(self.so_pin))


def _softhsm(request: pytest.FixtureRequest) -> Iterator[Bed]:
    token = request.getfixturevalue("fresh_token")
    yield Bed(token, request.getfixturevalue("user_pin"), request.getfixturevalue("so_pin"),
              key_types=(KeyType.RSA2048, KeyType.RSA3072, KeyType.EC_P256, KeyType.EC_P384, KeyType.ED25519),
              key_type=KeyType.EC_P256,  # RSA runs on the card; P-256 is quick to make
              signing_key=KeyName("contract-key", b"\x42"), holder_key=KeyName("holder", b"\x43"),
              locks_pins=False)


def _skf(request: pytest.FixtureRequest) -> Iterator[Bed]:
    request.getfixturevalue("skf_library")
    token = skf.open_token("skf", new_skf_token())
    yield Bed(token, USER_PIN, SO_PIN, key_types=(KeyType.SM2, KeyType.RSA2048), key_type=KeyType.SM2,
              signing_key=KeyName("contract-key"), holder_key=KeyName("holder"), locks_pins=True)
    token.close()


def _card(request: pytest.FixtureRequest) -> Iterator[Bed]:
    request.getfixturevalue("card")  # a fresh card image: factory PINs, 3 tries each
    token = OpenPgpCard.open(request.getfixturevalue("pcsc_bed").reader_name(0))
    # Fixed key slots: only "sig" signs, and the holder's certificate belongs to it.
    yield Bed(token, FACTORY_PIN, FACTORY_ADMIN_PIN, key_types=(KeyType.RSA2048,), key_type=KeyType.RSA2048,
              signing_key=KeyName("sig"), holder_key=KeyName("sig"), locks_pins=True)
    token.close()


BEDS = {"softhsm": _softhsm, "skf": _skf, "card": _card}


@pytest.fixture(params=[pytest.param("softhsm", marks=pytest.mark.softhsm), "skf",
                        pytest.param("card", marks=pytest.mark.pcsc)])
def bed(request: pytest.FixtureRequest) -> Iterator[Bed]:
    yield from BEDS[request.param](request)


def test_wrong_pin_then_right_pin(bed: Bed) -> None:
    token = bed.token
    before = token.pin_status()
    with pytest.raises(PinIncorrect) as wrong:
        token.login(Pin(WRONG))
    error = wrong.value
    # The token's own code survives: a return code with its function, or the card's status word.
    assert (error.rv is not None and error.function) or error.sw is not None
    assert WRONG not in str(error)
    if token.capabilities.exact_retries:
        assert before.remaining is not None and error.remaining == before.remaining - 1
        assert token.pin_status().remaining == before.remaining - 1
    token.login(Pin(bed.user_pin))
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
        token.login(Pin(bed.user_pin))
    with pytest.raises(PinLocked):
        token.login(Pin(WRONG), force=True)
    assert token.pin_status().locked
    assert token.capabilities.can_unblock
    token.reset_pin(Pin(bed.so_pin), Pin("fresh8pin"))
    token.login(Pin("fresh8pin"))
    assert token.pin_status(PinRole.USER).state in ("ok", "must-change")


def test_generated_key_signs_what_the_host_verifies(bed: Bed) -> None:
    token = bed.token
    assert token.capabilities.key_types == bed.key_types  # the driver declares what the bed offers
    assert bed.key_type.default_mechanism in token.capabilities.mechanisms
    bed.log_in_for_keys()
    name = bed.signing_key
    info = token.generate_key(bed.key_type, name.label, name.key_id)
    assert info.key_type is bed.key_type and info.has_private and info.label == name.label
    assert token.find_key(f"id:{info.id}").label == info.label
    assert info.label in [k.label for k in token.keys()]
    spki = token.public_key_der(info.label)
    assert pubkey.key_type_of_spki(spki) is bed.key_type
    mechanism = bed.key_type.default_mechanism
    signature = token.sign(info.label, b"counter record")
    assert pubkey.verify_host(spki, b"counter record", signature, mechanism)
    assert token.verify(info.label, b"counter record", signature)
    assert not token.verify(info.label, b"counter record!", signature)
    records = [b"a", b"b", b"c"]
    signatures = list(token.sign_many(info.label, records))
    assert all(pubkey.verify_host(spki, m, s, mechanism) for m, s in zip(records, signatures, strict=True))


def test_certificate_is_bound_to_its_key_pair_and_delete(bed: Bed) -> None:
    token = bed.token
    bed.log_in_for_keys()
    name = bed.holder_key
    info = token.generate_key(bed.key_type, name.label, name.key_id)
    der = self_signed_certificate()
    token.import_certificate(der, label=info.label, key_id=bytes.fromhex(info.id))
    stored = [c for c in token.certificates() if c.der == der]
    assert len(stored) == 1 and stored[0].id == info.id and not stored[0].authority
    if token.capabilities.can_delete_keys:
        token.delete_key(info.label)
        with pytest.raises(KeyNotFound):
            token.find_key(info.label)
    else:  # a declared inability refuses, and loses nothing
        with pytest.raises(NotSupported):
            token.delete_key(info.label)
        assert token.find_key(info.label) == info
