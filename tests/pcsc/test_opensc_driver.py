"""The PKCS#11 driver's shared checks, run on SoftHSM and on OpenSC over the emulated card.

Each check asks ``token.capabilities`` (and the bed) what to expect, so one suite covers
both modules. OpenSC is loaded into this process once (``Module.load``); each test gets a
fresh card and re-initialises the module (C_Finalize/C_Initialize), so that OpenSC forgets
the previous card's bindings and PIN cache and re-reads ``OPENSC_CONF``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sitoken.errors import FinalTryGuard, NotSupported, PinIncorrect, PinLocked, TokenNotFound
from sitoken.pin import Pin, PinRole
from sitoken.pkcs11 import Module, Pkcs11Token
from sitoken.pkcs11.constants import CKR_BY_NAME
from sitoken.pubkey import verify_host
from sitoken.token import KeyType, Mechanism

KEY = "Signature key"  # the label OpenSC gives the OpenPGP signature key; SoftHSM gets the same
KEY_ID = b"\x01"
WRONG = "999999x"
# A real card answers a wrong VERIFY with 63Cx (CKR_PIN_INCORRECT); the emulator's 6982 comes
# out of OpenSC as CKR_USER_NOT_LOGGED_IN. Either way the rv and C_Login must be kept.
WRONG_PIN_RVS = {CKR_BY_NAME["CKR_PIN_INCORRECT"], CKR_BY_NAME["CKR_USER_NOT_LOGGED_IN"]}


@dataclass
class P11Bed:
    """One module with one token to test, opened on demand (with or without a signing key)."""

    name: str
    user_pin: str
    so_pin: str
    locks_pins: bool  # SoftHSM never locks a PIN; a card does
    opener: Callable[[bool], Pkcs11Token]
    opened: list[Pkcs11Token] = field(default_factory=list)

    def open(self, with_key: bool = True) -> Pkcs11Token:
        token = self.opener(with_key)
        self.opened.append(token)
        return token


def _softhsm_bed(request: pytest.FixtureRequest) -> P11Bed:
    fresh = request.getfixturevalue("fresh_token")
    so, user = request.getfixturevalue("so_pin"), request.getfixturevalue("user_pin")

    def opener(with_key: bool) -> Pkcs11Token:
        if with_key:
            fresh.login(Pin(user))
            fresh.generate_key(KeyType.RSA2048, KEY, KEY_ID)
            fresh.close()
        return fresh

    return P11Bed("softhsm", user, so, False, opener)


def _opensc_bed(request: pytest.FixtureRequest) -> P11Bed:
    bed = request.getfixturevalue("opensc")  # fresh card, OPENSC_CONF etc. in os.environ
    reader = request.getfixturevalue("pcsc_bed").reader_name(0)

    def opener(with_key: bool) -> Pkcs11Token:
        if with_key:
            _provision_card_key(reader, bed.so_pin)
        module = Module.load(str(bed.module))
        module.reinitialize()  # forget the previous card; must come after provisioning
        return Pkcs11Token.open(module, bed.sign_token_label)

    return P11Bed("opensc", bed.user_pin, bed.so_pin, True, opener)


def _provision_card_key(reader: str, admin_pin: str) -> None:
    # Through the PC/SC driver, before OpenSC binds the card: OpenSC lists what it finds then.
    from sitoken.pcsc.openpgp import OpenPgpCard

    with OpenPgpCard.open(reader) as card:
        card.login_admin(Pin(admin_pin))
        card.generate_key(KeyType.RSA2048, "sig")


@pytest.fixture(params=[
    pytest.param("softhsm", marks=pytest.mark.softhsm),
    pytest.param("opensc", marks=pytest.mark.opensc),
])
def p11(request: pytest.FixtureRequest) -> Iterator[P11Bed]:
    bed = _softhsm_bed(request) if request.param == "softhsm" else _opensc_bed(request)
    yield bed
    for token in bed.opened:
        token.close()


def test_token_is_listed_and_selected_by_label_serial_and_uri(p11: P11Bed) -> None:
    token = p11.open(with_key=False)
    info = token.info()
    assert info.driver == "pkcs11" and info.initialized and info.login_required
    listed = token.module.token_infos()
    assert (info.label, info.serial) in [(raw.label, raw.serial) for raw in listed]
    for selector in (info.label, info.uri):
        assert Pkcs11Token.open(token.module, selector).slot_id == token.slot_id
    same_serial = [raw for raw in listed if raw.serial == info.serial]
    if len(same_serial) == 1:
        assert Pkcs11Token.open(token.module, info.serial).slot_id == token.slot_id
    else:  # OpenSC shows one card as two tokens with one serial: ambiguity is named
        with pytest.raises(TokenNotFound, match="several tokens match"):
            Pkcs11Token.open(token.module, info.serial)


def test_wrong_pin_keeps_code_and_function_then_login(p11: P11Bed) -> None:
    token = p11.open(with_key=False)
    with pytest.raises(PinIncorrect) as wrong:
        token.login(Pin(WRONG))
    assert wrong.value.rv in WRONG_PIN_RVS and wrong.value.function == "C_Login"
    assert WRONG not in str(wrong.value) and WRONG not in repr(wrong.value)
    token.login(Pin(p11.user_pin))
    assert token.pin_status().state == "ok"


def test_sign_verifies_on_host_and_public_key_exports(p11: P11Bed) -> None:
    token = p11.open(with_key=True)
    token.login(Pin(p11.user_pin))
    key = token.find_key(KEY)
    assert (key.key_type, key.id, key.has_private) == (KeyType.RSA2048, "01", True)
    spki = token.public_key_der(KEY)
    public = serialization.load_der_public_key(spki)
    assert isinstance(public, rsa.RSAPublicKey) and public.key_size == 2048
    for mechanism in (Mechanism.RSA_PKCS_SHA256, Mechanism.RSA_PKCS_SHA384):
        assert mechanism in token.capabilities.mechanisms
        signature = token.sign(KEY, b"counter record", mechanism)
        assert verify_host(spki, b"counter record", signature, mechanism)
        assert not verify_host(spki, b"counter record!", signature, mechanism)


def test_capabilities_are_honest_about_init_token(p11: P11Bed) -> None:
    token = p11.open(with_key=False)
    caps = token.capabilities
    assert not caps.exact_retries and KeyType.RSA2048 in caps.key_types
    if caps.can_init_token:
        token.init_token(Pin(p11.so_pin), token.label)
        token.init_pin(Pin(p11.so_pin), Pin(p11.user_pin))
        assert token.keys() == []
    else:
        with pytest.raises(NotSupported):  # declared, and refused before any C_InitToken
            token.init_token(Pin(p11.so_pin), "renamed")


def test_key_generation_with_the_pin_the_token_needs(p11: P11Bed) -> None:
    token = p11.open(with_key=False)
    if token.capabilities.keygen_needs_so_pin:
        token.login_admin(Pin(p11.so_pin))
    else:
        token.login(Pin(p11.user_pin))
    generated = token.generate_key(KeyType.RSA2048, KEY, KEY_ID)
    assert (generated.label, generated.id, generated.key_type) == (KEY, "01", KeyType.RSA2048)
    token.close()
    if p11.name == "opensc":
        # OpenSC's objects for a key it just generated on an OpenPGP card do not sign
        # (C_Sign: CKR_ARGUMENTS_BAD) until it reads the card again: re-open re-initialises.
        token = p11.open(with_key=False)
    token.login(Pin(p11.user_pin))
    signature = token.sign(KEY, b"fresh key")
    assert verify_host(token.public_key_der(KEY), b"fresh key", signature, Mechanism.RSA_PKCS_SHA256)


def test_pin_flags_final_try_guard_and_lock(p11: P11Bed) -> None:
    if not p11.locks_pins:
        pytest.skip(f"{p11.name} never locks a PIN (only COUNT_LOW): lockout is tested on the card")
    token = p11.open(with_key=False)
    for _ in range(2):
        with pytest.raises(PinIncorrect):
            token.login(Pin(WRONG))
    assert token.pin_status().state == "final-try"
    with pytest.raises(FinalTryGuard):
        token.login(Pin(p11.user_pin))  # refused before C_Login: even the right PIN
    assert token.pin_status().final_try  # nothing was sent, nothing was counted
    with pytest.raises(PinLocked) as locked:
        token.login(Pin(WRONG), force=True)
    assert locked.value.function == "C_Login"
    status = token.pin_status(PinRole.USER)
    assert status.locked and status.state == "locked"
    with pytest.raises(PinLocked):
        token.login(Pin(p11.user_pin))
