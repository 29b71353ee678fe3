"""Pure parts of the PKCS#11 driver: URIs, return-code mapping, host-side encodings."""

from __future__ import annotations

import contextlib
import hashlib

import pytest
from asn1crypto import algos, core
from hypothesis import given
from hypothesis import strategies as st

from sitoken import algorithms, errors, pubkey
from sitoken.pkcs11.constants import flag_names, rv_name
from sitoken.pkcs11.errors import error_for_rv
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
    ("rv", "name", "cls"),
    [
        (0xA0, "CKR_PIN_INCORRECT", errors.PinIncorrect),
        (0xA4, "CKR_PIN_LOCKED", errors.PinLocked),
        (0xE0, "CKR_TOKEN_NOT_PRESENT", errors.TokenAbsent),
        (0x32, "CKR_DEVICE_REMOVED", errors.TokenAbsent),
        (0x70, "CKR_MECHANISM_INVALID", errors.MechanismUnsupported),
        (0x54, "CKR_FUNCTION_NOT_SUPPORTED", errors.NotSupported),
        (0x50, "CKR_FUNCTION_CANCELED", errors.Pkcs11Error),
        (0x104, "CKR_USER_ANOTHER_ALREADY_LOGGED_IN", errors.Pkcs11Error),
        (0x03, "CKR_SLOT_ID_INVALID", errors.Pkcs11Error),
        (0x80000123, "CKR_VENDOR_DEFINED+0x123", errors.Pkcs11Error),
    ],
)
def test_every_failure_keeps_its_code_name_and_function(rv: int, name: str, cls: type) -> None:
    err = error_for_rv(rv, "C_Sign")
    assert type(err) is cls
    assert err.rv == rv and err.function == "C_Sign"
    assert name in str(err) and "C_Sign" in str(err)
    assert err.to_dict()["rv"] == rv


def test_unknown_and_vendor_codes_keep_their_number() -> None:
    assert rv_name(0x80000123) == "CKR_VENDOR_DEFINED+0x123"
    assert rv_name(0x777) == "CKR_0x00000777"
    err = error_for_rv(0x777, "C_Login")
    assert err.rv == 0x777 and "0x777" in str(err)


def test_flag_names_are_stable() -> None:
    assert flag_names(0x400 | 0x8 | 0x10000) == ("user-pin-initialized", "token-initialized", "user-pin-count-low")


@pytest.mark.parametrize("name", sorted(n for n, h in algorithms.HASHES.items() if h.digest_info_prefix))
def test_digest_info_prefixes_match_an_independent_der_encoder(name: str) -> None:
    # asn1crypto builds the DigestInfo of RFC 8017 §9.2 (NULL parameters): the table's
    # prefix must be exactly the bytes before the hash.
    digest = hashlib.new(name, b"x").digest()
    algorithm = algos.DigestAlgorithm({"algorithm": name, "parameters": core.Null()})
    der = algos.DigestInfo({"digest_algorithm": algorithm, "digest": digest}).dump()
    assert algorithms.HASHES[name].digest_info_prefix + digest == der
    assert algorithms.HASHES[name].size == len(digest)


def test_host_input_per_scheme() -> None:
    h = hashlib.sha384(b"doc").digest()
    assert algorithms.host_input(Mechanism.RSA_PKCS_SHA384, b"doc").endswith(h)
    assert algorithms.host_input(Mechanism.ECDSA_SHA384, b"doc") == h
    assert algorithms.host_input(Mechanism.EDDSA, b"doc") == b"doc"
    with pytest.raises(errors.InvalidInput):
        algorithms.host_input(Mechanism.ECDSA_SHA256, b"short", prehashed=True)


@given(st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32))
def test_ecdsa_raw_der_round_trip(r: bytes, s: bytes) -> None:
    raw = r + s
    assert algorithms.ecdsa_der_to_raw(algorithms.ecdsa_raw_to_der(raw), 32) == raw


@given(st.binary(max_size=120))
def test_ecdsa_der_parser_only_raises_invalid_input(data: bytes) -> None:
    with contextlib.suppress(errors.InvalidInput):
        algorithms.ecdsa_der_to_raw(data, 32)


def test_ec_params_round_trip() -> None:
    for kt in (KeyType.EC_P256, KeyType.EC_P384, KeyType.ED25519):
        assert pubkey.key_type_from_ec_params(pubkey.ec_params_der(kt)) is kt


def test_the_tables_curve_params_are_the_der_of_the_curve_oid() -> None:
    """The table's DER constants (read without a parser) are what asn1crypto encodes."""
    curves = [kt for kt in KeyType if kt.facts.curve_oid]
    assert len(curves) == 4
    for kt in curves:
        assert kt.facts.ec_params == core.ObjectIdentifier(kt.facts.curve_oid).dump(), kt
        assert algorithms.key_type_for_ec_params(kt.facts.ec_params) is kt
    # An encoding the table lacks still goes through the parser (OpenSC's Edwards curve by name).
    assert pubkey.key_type_from_ec_params(core.PrintableString("edwards25519").dump()) is KeyType.ED25519


@given(st.binary(max_size=200))
def test_public_key_loader_only_raises_invalid_input(data: bytes) -> None:
    with contextlib.suppress(errors.InvalidInput):
        pubkey.load_public_key(data)
