"""The SKF driver on the software SKF token: discovery, the PIN lifecycle, SM2 keys, signing, certificates."""

from __future__ import annotations

import pytest

from sitoken import pubkey, skf, sm2
from sitoken.errors import (
    FinalTryGuard,
    InvalidInput,
    KeyNotFound,
    MechanismUnsupported,
    NotSupported,
    PinIncorrect,
    PinLocked,
    PinPolicyError,
    TokenAbsent,
    TokenNotFound,
)
from sitoken.pin import Pin, PinRole
from sitoken.skf.constants import SAR_BY_NAME
from sitoken.token import KeyType, Mechanism
from skf_bed import SO_PIN, USER_PIN, factory_key, openssl_verifies, self_signed_certificate

WRONG = "wrong7pin"


def _sm2_key(token: skf.SkfToken, label: str = "sign1") -> bytes:
    token.login(Pin(USER_PIN))
    info = token.generate_key(KeyType.SM2, label)
    assert (info.label, info.key_type, info.extra["usage"]) == (label, KeyType.SM2, "signature")
    return token.public_key_der(label)


def test_discovery_lists_the_application_with_exact_pin_state(skf_token: skf.SkfToken) -> None:
    info = skf_token.info()
    assert (info.driver, info.label, info.slot, info.uri) == ("skf", skf_token.device, skf_token.device,
                                                             f"skf:{skf_token.device}/{skf_token.device}")
    assert (info.pin.remaining, info.pin.maximum, info.so_pin.remaining, info.so_pin.maximum) == (6, 6, 10, 10)
    assert any(t.uri == info.uri and t.pin.remaining == 6 for t in skf.list_tokens("skf"))
    selected = skf.open_token("skf", f"{skf_token.device}/{skf_token.device}")
    assert selected.app_name == skf_token.device
    selected.close()
    with pytest.raises(TokenNotFound, match="no SKF application 'nope'"):
        skf.open_token("skf", f"{skf_token.device}/nope")
    caps = skf_token.capabilities
    assert caps.exact_retries and caps.can_unblock and caps.can_init_token
    assert KeyType.SM2 in caps.key_types and Mechanism.SM2_SM3 in caps.mechanisms


def test_wrong_pins_count_down_exactly_then_lock_and_admin_unblocks(skf_token: skf.SkfToken) -> None:
    for left in (5, 4, 3, 2, 1):
        with pytest.raises(PinIncorrect) as wrong:
            skf_token.login(Pin(WRONG))
        assert wrong.value.remaining == left and wrong.value.rv == SAR_BY_NAME["SAR_PIN_INCORRECT"]
        assert wrong.value.function == "SKF_VerifyPIN" and WRONG not in str(wrong.value)
        assert skf_token.pin_status().remaining == left
    assert skf_token.pin_status().state == "final-try"
    with pytest.raises(FinalTryGuard):
        skf_token.login(Pin(USER_PIN))  # refused before VerifyPIN: nothing counted
    assert skf_token.pin_status().remaining == 1
    with pytest.raises(PinLocked):
        skf_token.login(Pin(WRONG), force=True)
    assert skf_token.pin_status().locked
    with pytest.raises(PinLocked):
        skf_token.login(Pin(USER_PIN), force=True)
    with pytest.raises(PinIncorrect) as admin_wrong:
        skf_token.reset_pin(Pin("not-the-admin9"), Pin("fresh8pin"))
    assert admin_wrong.value.remaining == 9 and skf_token.pin_status(PinRole.SO).remaining == 9
    skf_token.reset_pin(Pin(SO_PIN), Pin("fresh8pin"))
    assert skf_token.pin_status().remaining == 6 and skf_token.pin_status(PinRole.SO).remaining == 10
    skf_token.login(Pin("fresh8pin"))


def test_pin_changes_follow_the_policy_before_the_token(skf_token: skf.SkfToken) -> None:
    with pytest.raises(PinPolicyError):
        skf_token.change_pin(Pin(USER_PIN), Pin("123456"))
    assert skf_token.pin_status().remaining == 6  # the weak PIN never reached the token
    skf_token.change_pin(Pin(USER_PIN), Pin("second4pin"))
    skf_token.login(Pin("second4pin"))
    skf_token.change_so_pin(Pin(SO_PIN), Pin("admin-9753"))
    with pytest.raises(PinIncorrect):
        skf_token.change_so_pin(Pin(SO_PIN), Pin("admin-1111x"))
    assert skf_token.pin_status(PinRole.SO).remaining == 9


def test_admin_pin_locks_too(skf_device: str) -> None:
    with skf.open_token("skf", skf_device, device_key=factory_key()) as token:
        token.template  # noqa: B018 - the default limits: 10 admin tries
        token_app = skf.open_token("skf", skf_device, device_key=factory_key(),
                                   template=skf.ApplicationTemplate(admin_retries=2, user_retries=3))
        token_app.init_token(Pin(SO_PIN), "APP")
        assert (token_app.pin_status(PinRole.SO).maximum, token_app.pin_status().maximum) == (2, 3)
        with pytest.raises(PinIncorrect):
            token_app.login_admin(Pin("wrong-admin1"))
        with pytest.raises(FinalTryGuard):
            token_app.reset_pin(Pin(SO_PIN), Pin("fresh8pin"))
        with pytest.raises(PinLocked):
            token_app.login_admin(Pin("wrong-admin1"), force=True)
        with pytest.raises(PinLocked):
            token_app.reset_pin(Pin(SO_PIN), Pin("fresh8pin"), force=True)
        token_app.close()


def test_init_needs_the_device_key_and_the_right_one(skf_device: str) -> None:
    with skf.open_token("skf", skf_device) as token:
        assert not token.info().initialized
        with pytest.raises(InvalidInput, match="device authentication key"):
            token.init_token(Pin(SO_PIN), "APP")
    wrong = skf.DeviceKey(b"0" * 16)
    with skf.open_token("skf", skf_device, device_key=wrong) as token, pytest.raises(Exception) as refused:
        token.init_token(Pin(SO_PIN), "APP")
    assert getattr(refused.value, "function", None) == "SKF_DevAuth"
    with skf.open_token("skf", skf_device, device_key=factory_key()) as token:
        token.init_token(Pin(SO_PIN), "APP")
        token.init_pin(Pin(SO_PIN), Pin(USER_PIN))
        token.login(Pin(USER_PIN))
        assert token.info().initialized and token.keys() == []


def test_sm2_signatures_verify_with_openssl_and_on_the_token(skf_token: skf.SkfToken) -> None:
    spki = _sm2_key(skf_token)
    assert sm2.is_sm2_spki(spki) and pubkey.key_type_of_spki(spki) is KeyType.SM2
    for message in (b"", b"counter record", b"x" * 5000):
        signature = skf_token.sign("sign1", message)
        assert openssl_verifies(spki, message, signature)
        assert pubkey.verify_host(spki, message, signature, Mechanism.SM2_SM3)
        assert skf_token.verify("sign1", message, signature)
        assert not skf_token.verify("sign1", message + b"!", signature)
    skf_token.sm2_id = b"alice@example.cn"
    signature = skf_token.sign("id:" + b"sign1".hex(), b"with an id")
    assert openssl_verifies(spki, b"with an id", signature, b"alice@example.cn")
    assert not openssl_verifies(spki, b"with an id", signature)
    assert skf_token.verify("sign1", b"with an id", signature)
    assert not skf_token.verify("sign1", b"with an id", b"\x30\x00")


def test_signing_needs_the_user_pin_and_a_fitting_mechanism(skf_token: skf.SkfToken) -> None:
    _sm2_key(skf_token)
    skf_token.logout()
    with pytest.raises(Exception) as refused:
        skf_token.sign("sign1", b"x")
    assert getattr(refused.value, "rv", None) == SAR_BY_NAME["SAR_USER_NOT_LOGGED_IN"]
    skf_token.login(Pin(USER_PIN))
    with pytest.raises(MechanismUnsupported):
        skf_token.sign("sign1", b"x", Mechanism.ECDSA_SHA256)
    with pytest.raises(KeyNotFound):
        skf_token.sign("nothing-here", b"x")
    with pytest.raises(InvalidInput, match="already exists"):
        skf_token.generate_key(KeyType.SM2, "sign1")
    with pytest.raises(NotSupported):
        skf_token.generate_key(KeyType.EC_P256, "p256")


def test_batch_of_records_on_one_key(skf_token: skf.SkfToken) -> None:
    spki = _sm2_key(skf_token)
    records = [f"record {i}".encode() for i in range(200)]
    signatures = list(skf_token.sign_many("sign1", records))
    public = sm2.Sm2PublicKey(spki)
    assert len(signatures) == 200 and all(public.verify(r, s) for r, s in zip(records, signatures, strict=True))
    assert openssl_verifies(spki, records[123], signatures[123])


def test_rsa_where_offered(skf_token: skf.SkfToken) -> None:
    if KeyType.RSA2048 not in skf_token.capabilities.key_types:
        pytest.skip("this SKF library offers no RSA")  # declared, so not a missing bed
    skf_token.login(Pin(USER_PIN))
    skf_token.generate_key(KeyType.RSA2048, "rsa1")
    spki = skf_token.public_key_der("rsa1")
    for mechanism in (Mechanism.RSA_PKCS_SHA256, Mechanism.RSA_PKCS_SHA384):
        signature = skf_token.sign("rsa1", b"doc", mechanism)
        assert pubkey.verify_host(spki, b"doc", signature, mechanism)
        assert skf_token.verify("rsa1", b"doc", signature, mechanism)
    assert skf_token.container_type("rsa1") == 1 and skf_token.find_key("rsa1").key_type is KeyType.RSA2048


def test_encryption_pair_from_an_envelope_and_certificates_per_slot(skf_token: skf.SkfToken) -> None:
    """The dual-certificate container: a KMC's enveloped encryption key, then a certificate in each slot."""
    sign_point = sm2.point_from_spki(_sm2_key(skf_token, "dual"))
    kmc_key, session = sm2.Sm2PrivateKey.generate(), bytes(range(16))
    envelope = skf.blobs.build_enveloped_key_blob(
        0x401, sm2.sm4.encrypt(session, kmc_key.scalar()), kmc_key.public_key().point,
        sm2.Sm2PublicKey.from_point(sign_point).encrypt(session))
    enc = skf_token.import_encryption_key("dual", envelope)
    assert (enc.label, enc.extra["usage"]) == ("dual/enc", "encryption")
    assert skf_token.public_key_der("dual/enc") == kmc_key.public_key().spki
    sign_cert, enc_cert = self_signed_certificate("sign"), self_signed_certificate("enc")
    skf_token.import_certificate(sign_cert, key_id=b"dual")
    skf_token.import_certificate(enc_cert, label="dual/enc")
    stored = {c.label: c for c in skf_token.certificates()}
    assert stored["dual"].der == sign_cert and stored["dual/enc"].der == enc_cert
    assert stored["dual/enc"].id == b"dual/enc".hex() and not stored["dual"].authority
    with pytest.raises(InvalidInput):
        skf_token.import_certificate(b"not a certificate", label="dual")
    with pytest.raises(NotSupported):
        skf_token.import_certificate(sign_cert, label="ca", authority=True)


def test_delete_key_removes_its_container(skf_token: skf.SkfToken) -> None:
    _sm2_key(skf_token, "gone")
    assert skf_token.delete_key("gone").label == "gone"
    assert "gone" not in skf_token.containers() and skf_token.keys() == []



def test_an_unplugged_device_is_absent_and_comes_back(skf_token: skf.SkfToken) -> None:
    import subprocess

    util = skf.softskf.util_path()
    assert util is not None
    subprocess.run([util, "unplug", skf_token.device], check=True, timeout=30)
    with pytest.raises(TokenAbsent):
        skf_token.pin_status()
    assert skf_token.device not in skf.devices("skf")
    with pytest.raises(TokenNotFound):
        skf.open_token("skf", skf_token.device)
    skf_token.close()  # quiet on a removed device
    subprocess.run([util, "plug", skf_token.device], check=True, timeout=30)
    with skf.open_token("skf", skf_token.device) as back:
        assert back.pin_status().remaining == 6
