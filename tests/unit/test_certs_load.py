"""Certificates from outside input: formats, errors, chain order, key matching, fuzzing."""

from __future__ import annotations

import base64

import pytest
from certs_helpers import SUBJECT, shared_ca, signer
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sitoken.certs import (
    build_csr,
    build_self_signed,
    cert_info,
    leaf_of,
    load_certificates,
    order_chain,
    public_key_matches,
    to_pem,
)
from sitoken.errors import InvalidInput
from sitoken.token import KeyType


def _issued() -> tuple[bytes, tuple[bytes, ...]]:
    leaf, chain = shared_ca().issue(build_csr(signer(KeyType.EC_P256), SUBJECT))
    return leaf, chain


LEAF, CHAIN = _issued()


def test_der_and_single_pem_give_the_same_certificate() -> None:
    assert load_certificates(LEAF) == [LEAF]
    assert load_certificates(to_pem([LEAF])) == [LEAF]


def test_pem_bundle_with_text_around_blocks_keeps_order() -> None:
    bundle = b"leaf:\n" + to_pem([LEAF]) + b"\nchain follows\r\n" + to_pem(list(CHAIN))
    assert load_certificates(bundle.replace(b"\n", b"\r\n")) == [LEAF, *CHAIN]


def test_pkcs7_bundle_in_der_and_pem() -> None:
    certs = [x509.load_der_x509_certificate(d) for d in (LEAF, *CHAIN)]
    p7_der = pkcs7.serialize_certificates(certs, serialization.Encoding.DER)
    p7_pem = pkcs7.serialize_certificates(certs, serialization.Encoding.PEM)
    assert sorted(load_certificates(p7_der)) == sorted([LEAF, *CHAIN])
    assert sorted(load_certificates(p7_pem)) == sorted([LEAF, *CHAIN])


def test_bare_base64_is_accepted() -> None:
    text = base64.encodebytes(LEAF)
    assert load_certificates(text) == [LEAF]


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "empty"),
        (b" \n\t", "empty"),
        (LEAF[:-10], "truncated"),
        (LEAF + b"\x00", "1 bytes follow the end of the DER data"),
        (b"-----BEGIN CERTIFICATE-----\n%%%%\n-----END CERTIFICATE-----\n", "damaged"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "certificate"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
         r"expected a certificate, but the file is a private key \(PEM\)"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END PKCS7-----\n", "ends with"),
        ("证书".encode(), "but the file is text that is neither PEM nor base64"),
        (b"\x30\x03\x02\x01\x01", "certificate"),
    ],
)
def test_bad_input_raises_invalid_input_with_a_reason(data: bytes, fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        load_certificates(data)


def test_order_chain_sorts_a_shuffled_bundle_and_drops_strangers() -> None:
    stranger = build_self_signed(signer(KeyType.EC_P256, 2), "CN=stranger", 10)
    others = [CHAIN[1], stranger, CHAIN[0]]
    assert order_chain(LEAF, others) == [LEAF, CHAIN[0], CHAIN[1]]
    assert order_chain(LEAF, [CHAIN[1]]) == [LEAF]


def test_leaf_of_finds_the_end_certificate() -> None:
    assert leaf_of([CHAIN[1], LEAF, CHAIN[0]]) == LEAF
    stranger = build_self_signed(signer(KeyType.EC_P256, 2), "CN=stranger", 10)
    with pytest.raises(InvalidInput, match="2 end certificates"):
        leaf_of([LEAF, stranger, *CHAIN])


def test_public_key_matches_compares_keys_not_encodings() -> None:
    key = signer(KeyType.EC_P256)
    assert public_key_matches(LEAF, key.public_key_der())
    assert not public_key_matches(LEAF, signer(KeyType.EC_P256, 1).public_key_der())
    public = serialization.load_der_public_key(key.public_key_der())
    assert isinstance(public, ec.EllipticCurvePublicKey)
    point = public.public_bytes(serialization.Encoding.X962,
                                serialization.PublicFormat.CompressedPoint)
    compressed_spki = bytes.fromhex(
        "3039301306072a8648ce3d020106082a8648ce3d030107032200") + point
    assert public_key_matches(LEAF, compressed_spki)
    with pytest.raises(InvalidInput):
        public_key_matches(LEAF, b"\x30\x00")


@st.composite
def _mutated(draw: st.DrawFn, der: bytes) -> bytes:
    """``der`` with a few bytes replaced, deleted, inserted, or the tail cut off."""
    data = bytearray(der)
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        operation = draw(st.sampled_from(["replace", "delete", "insert", "truncate"]))
        if operation == "replace":
            data[pos] = draw(st.integers(0, 255))
        elif operation == "delete":
            del data[pos : pos + draw(st.integers(1, 8))]
        elif operation == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=4))
        else:
            del data[pos:]
    return bytes(data)


def _only_invalid_input(data: bytes) -> None:
    try:
        certs = load_certificates(data)
    except InvalidInput:
        return
    for der in certs:
        assert cert_info(der, chain=CHAIN).serial


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_random_bytes_only_ever_raise_invalid_input(data: bytes) -> None:
    _only_invalid_input(data)
    _only_invalid_input(b"\x30" + data)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated(LEAF))
def test_mutated_certificates_only_ever_raise_invalid_input(data: bytes) -> None:
    _only_invalid_input(data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated(to_pem([LEAF, *CHAIN])))
def test_mutated_pem_bundles_only_ever_raise_invalid_input(data: bytes) -> None:
    _only_invalid_input(data)


def test_a_signature_between_two_certificates_is_checked_once_and_kept_by_both_ders() -> None:
    from sitoken.certs import parse

    leaf, issuer, root = (parse.parse_certificate(d) for d in (LEAF, *CHAIN[:2]))
    parse._signature_from.cache_clear()
    assert parse.signature_from(leaf, issuer) is True
    assert parse.signature_from(parse.parse_certificate(bytearray(LEAF)), issuer) is True
    info = parse._signature_from.cache_info()
    assert (info.misses, info.hits) == (1, 1)
    # Another issuer is another question: the answer for the real issuer is not reused.
    assert parse.signature_from(leaf, root) is False
    assert parse._signature_from.cache_info().misses == 2


def test_a_certificate_is_parsed_once_and_kept_by_its_der() -> None:
    from sitoken.certs import parse

    leaf = bytes(LEAF)
    parse._parsed.cache_clear()
    first = parse.parse_certificate(leaf)
    again = parse.parse_certificate(bytearray(leaf))  # same DER, another buffer
    info = parse._parsed.cache_info()
    assert (info.misses, info.hits) == (1, 1)
    assert first.asn1 is again.asn1 and first.crypto is again.crypto  # one parse, shared
    assert first is not again  # ... in objects that chain walks still tell apart
    broken = leaf[:-1]
    for _ in range(2):  # a refusal is not kept: each call refuses again
        with pytest.raises(InvalidInput):
            parse.parse_certificate(broken)
    assert parse._parsed.cache_info().currsize == 1
