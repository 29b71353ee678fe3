"""SM2 through PKCS#11 as vendor profiles: the mapping from sitoken's SM2 names to each vendor's numbers.

No open-source PKCS#11 token signs SM2, so these are unit tests of the data and of the encodings
a profile promises (r||s to DER, or DER as the token gives it).
"""

from __future__ import annotations

import pytest

from sitoken import pubkey, sm2
from sitoken.algorithms import KeyType, Mechanism, ecdsa_der_to_raw
from sitoken.errors import MechanismUnsupported
from sitoken.pkcs11 import Pkcs11Token
from sitoken.pkcs11.keys import KeyObject, key_type_of
from sitoken.pkcs11.profiles import PROFILE_ENV, SPEC, profile_for, profile_named
from sitoken.pkcs11.sm2_vendors import SM2_KEY_TYPES, SM2_VENDORS


@pytest.mark.parametrize(("name", "ckk", "keygen", "sign"), [
    ("tass", 0x80000004, 0x80008001, 0x80008100),
    ("sansec", 0x80000004, 0x80008001, 0x80008102),
    ("luna", 0x80000016, 0x80000B20, 0x80000B22),
    ("ibm-ep11", 0x80050002, 0x8005000A, 0x8005000C),
])
def test_each_vendor_maps_sm2_to_its_numbers(name: str, ckk: int, keygen: int, sign: int) -> None:
    profile = profile_named(name)
    gen = profile.keygen(KeyType.SM2)
    assert gen is not None and (gen.ckk, gen.mechanism, gen.bits) == (ckk, keygen, None)
    assert profile.mechanism(Mechanism.SM2_SM3).ckm == sign
    assert ckk in SM2_KEY_TYPES
    # the specification's own rows stay as they are
    assert profile.mechanism(Mechanism.ECDSA_SHA256).ckm == SPEC.mechanism(Mechanism.ECDSA_SHA256).ckm


def test_the_specification_alone_has_no_sm2() -> None:
    assert SPEC.keygen(KeyType.SM2) is None
    with pytest.raises(MechanismUnsupported):
        SPEC.mechanism(Mechanism.SM2_SM3)


def test_selection_by_manufacturer_file_name_or_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PROFILE_ENV, raising=False)
    assert profile_for("SANSEC", "/opt/x/libanything.so").name == "sansec"
    assert profile_for("Unknown", "/opt/tass/libtass_pkcs11.so").name == "tass"
    assert profile_for("SoftHSM", "/usr/lib/softhsm/libsofthsm2.so") is SPEC
    monkeypatch.setenv(PROFILE_ENV, "luna")
    assert profile_for("SoftHSM", "/usr/lib/softhsm/libsofthsm2.so").name == "luna"


def test_token_input_and_signature_encodings() -> None:
    """What goes to the token is the message (it computes Z and e); what comes back becomes DER."""
    key = sm2.Sm2PrivateKey.generate()
    der = key.sign(b"doc")
    raw = ecdsa_der_to_raw(der, 32)
    for vendor in SM2_VENDORS:
        ck = profile_named(vendor.name).mechanism(Mechanism.SM2_SM3)
        assert ck.prepare(b"doc") == b"doc"
        token_out = der if vendor.der_output else raw
        assert ck.finish(token_out) == der  # sitoken returns DER whatever the vendor's form
        assert ck.token_signature(der, KeyType.SM2) == token_out
        assert key.public_key().verify(b"doc", ck.finish(token_out))


def test_sm2_key_generation_template_and_key_objects() -> None:
    assert pubkey.ec_params_der(KeyType.SM2) == bytes.fromhex("06082a811ccf5501822d")  # the SM2 curve OID
    assert pubkey.ec_params_der(KeyType.EC_P256) == bytes.fromhex("06082a8648ce3d030107")  # unchanged
    for ckk in SM2_KEY_TYPES:
        assert key_type_of(KeyObject(0, 3, {0x100: ckk})) is KeyType.SM2  # CKA_KEY_TYPE, CKO_PRIVATE_KEY
    assert key_type_of(KeyObject(0, 3, {0x100: 0x80001234})) is None


@pytest.mark.softhsm
def test_a_module_with_an_sm2_profile_is_asked_for_the_vendor_number(
    token: Pkcs11Token, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SoftHSM taken for a SANSEC module: sitoken asks for 0x80008102, which SoftHSM does not offer."""
    monkeypatch.setenv(PROFILE_ENV, "sansec")
    token._profile = None  # re-read the profile, as a newly opened token would
    assert KeyType.SM2 not in token.capabilities.key_types  # the module lists no SM2 mechanism
    with pytest.raises(MechanismUnsupported, match="0x80008102"):
        token.mechanism_for(KeyType.SM2, Mechanism.SM2_SM3, "k")
    token.sm2_id = b"alice@example.cn"
    with pytest.raises(MechanismUnsupported, match="default ID only"):
        token.mechanism_for(KeyType.SM2, Mechanism.SM2_SM3, "k")
