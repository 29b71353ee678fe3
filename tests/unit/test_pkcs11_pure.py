"""Pure parts of the PKCS#11 driver: URIs, return-code mapping, host-side encodings."""

from __future__ import annotations

import contextlib
import hashlib

import pkcs11.exceptions as p11x
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sitoken import errors, pubkey
from sitoken.pkcs11.constants import flag_names, rv_name
from sitoken.pkcs11.errors import error_for_rv, rv_of, translate
from sitoken.pkcs11.uri import object_uri, parse_uri, token_uri
from sitoken.token import KeyType, Mechanism


def test_uri_parses_percent_encoding_and_binary_id() -> None:
    uri = parse_uri("pkcs11:token=My%20Token;serial=00ab;id=%01%FF;object=sign%3Bkey?module-name=softhsm")
    assert uri.token == "My Token" and uri.serial == "00ab"
    assert uri.object_id == b"\x01\xff" and uri.object_label == "sign;key"
    assert uri.query == {"module-name": "softhsm"}


def test_uri_round_trips_what_sitoken_prints() -> None:
    text = token_uri("社保 key;1", "1234", "SoftHSM project", "SoftHSM v2")
    uri = parse_uri(text)
    assert uri.matches_token("社保 key;1", "1234", "SoftHSM project", "SoftHSM v2")
    assert not uri.matches_token("other", "1234", "SoftHSM project", "SoftHSM v2")
    assert parse_uri(object_uri("t", "k", b"\x00\x10", "private")).object_id == b"\x00\x10"


@pytest.mark.parametrize(
    "bad",
    ["token=x", "pkcs11:token", "pkcs11:colour=red", "pkcs11:token=a;token=b",
     "pkcs11:token=x?pin-value=123456", "pkcs11:token=%ff%fe"],
)
def test_bad_uris_are_invalid_input(bad: str) -> None:
    with pytest.raises(errors.InvalidInput):
        parse_uri(bad)


def test_pin_value_is_refused_without_echoing_it() -> None:
    with pytest.raises(errors.InvalidInput) as info:
        parse_uri("pkcs11:token=x?pin-value=s3cr3tpin")
    assert "s3cr3tpin" not in str(info.value)


@given(st.text(max_size=80))
def test_uri_parser_only_raises_invalid_input(text: str) -> None:
    with contextlib.suppress(errors.InvalidInput):
        parse_uri("pkcs11:" + text)


@pytest.mark.parametrize(
    ("exc", "rv", "cls"),
    [
        (p11x.PinIncorrect(), 0xA0, errors.PinIncorrect),
        (p11x.PinLocked(), 0xA4, errors.PinLocked),
        (p11x.TokenNotPresent(), 0xE0, errors.TokenAbsent),
        (p11x.DeviceRemoved(), 0x32, errors.TokenAbsent),
        (p11x.MechanismInvalid(), 0x70, errors.MechanismUnsupported),
        (p11x.FunctionCancelled(), 0x50, errors.Pkcs11Error),
        (p11x.AnotherUserAlreadyLoggedIn(), 0x104, errors.Pkcs11Error),
        (p11x.SlotIDInvalid(), 0x03, errors.Pkcs11Error),
        (p11x.PKCS11Error("Unmapped error code 0x80000123"), 0x80000123, errors.Pkcs11Error),
    ],
)
def test_every_failure_keeps_its_code_and_function(exc: Exception, rv: int, cls: type) -> None:
    assert rv_of(exc) == rv  # type: ignore[arg-type]
    err = translate(exc, "C_Sign")  # type: ignore[arg-type]
    assert type(err) is cls
    assert err.rv == rv and err.function == "C_Sign"  # type: ignore[attr-defined]
    assert err.to_dict()["rv"] == rv


def test_unknown_and_vendor_codes_keep_their_number() -> None:
    assert rv_name(0x80000123) == "CKR_VENDOR_DEFINED+0x123"
    assert rv_name(0x777) == "CKR_0x00000777"
    err = error_for_rv(0x777, "C_Login")
    assert err.rv == 0x777 and "0x777" in str(err)


def test_no_such_key_is_key_not_found() -> None:
    assert isinstance(translate(p11x.NoSuchKey("none"), "C_FindObjects"), errors.KeyNotFound)


def test_flag_names_are_stable() -> None:
    assert flag_names(0x400 | 0x8 | 0x10000) == ("user-pin-initialized", "token-initialized", "user-pin-count-low")


# RFC 8017 §9.2 note 1: the DER prefixes of DigestInfo for SHA-256 and SHA-384.
SHA256_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")
SHA384_PREFIX = bytes.fromhex("3041300d060960864801650304020205000430")


def test_digest_info_matches_rfc8017() -> None:
    h256 = hashlib.sha256(b"x").digest()
    h384 = hashlib.sha384(b"x").digest()
    assert pubkey.digest_info(Mechanism.RSA_PKCS_SHA256, h256) == SHA256_PREFIX + h256
    assert pubkey.digest_info(Mechanism.RSA_PKCS_SHA384, h384) == SHA384_PREFIX + h384


@given(st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32))
def test_ecdsa_raw_der_round_trip(r: bytes, s: bytes) -> None:
    raw = r + s
    assert pubkey.ecdsa_der_to_raw(pubkey.ecdsa_raw_to_der(raw), 32) == raw


@given(st.binary(max_size=120))
def test_ecdsa_der_parser_only_raises_invalid_input(data: bytes) -> None:
    with contextlib.suppress(errors.InvalidInput):
        pubkey.ecdsa_der_to_raw(data, 32)


def test_ec_params_round_trip() -> None:
    for kt in (KeyType.EC_P256, KeyType.EC_P384, KeyType.ED25519):
        assert pubkey.key_type_from_ec_params(pubkey.ec_params_der(kt)) is kt


@given(st.binary(max_size=200))
def test_public_key_loader_only_raises_invalid_input(data: bytes) -> None:
    with contextlib.suppress(errors.InvalidInput):
        pubkey.load_public_key(data)
