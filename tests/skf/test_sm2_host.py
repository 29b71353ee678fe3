"""SM2/SM3/SM4 on the host: Z and e, SPKI, signatures with an ID, encryption, checked against openssl."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from sitoken import pubkey, sm2
from sitoken.errors import InvalidInput
from sitoken.token import KeyType, Mechanism
from skf_bed import openssl_verifies

# GM/T 0003.5 / GB/T 32918 annex A: the SM3 vectors of GB/T 32905.
SM3_ABC = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
SM3_64 = "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"


@pytest.fixture(scope="module")
def key() -> sm2.Sm2PrivateKey:
    return sm2.Sm2PrivateKey.generate()


def test_sm3_matches_the_standard_vectors() -> None:
    assert sm2.sm3(b"abc").hex() == SM3_ABC
    assert sm2.sm3(b"abcd" * 16).hex() == SM3_64


def test_signatures_verify_with_openssl_and_only_for_their_id(key: sm2.Sm2PrivateKey) -> None:
    public = key.public_key()
    for message in (b"", b"counter record", bytes(range(256)) * 5):
        signature = key.sign(message)
        assert 68 <= len(signature) <= 72  # DER SEQUENCE {r, s}
        assert public.verify(message, signature)
        assert openssl_verifies(public.spki, message, signature)
        assert not public.verify(message + b"!", signature)
    signature = key.sign(b"record", b"alice@example")
    assert public.verify(b"record", signature, b"alice@example")
    assert openssl_verifies(public.spki, b"record", signature, b"alice@example")
    assert not public.verify(b"record", signature)  # Z binds the ID
    assert not openssl_verifies(public.spki, b"record", signature)


def test_openssl_signatures_verify_here(tmp_path: Path, key: sm2.Sm2PrivateKey) -> None:
    """The other direction: OpenSSL computes Z itself, sitoken's Z must agree."""
    (tmp_path / "k.der").write_bytes(key.pkcs8())
    (tmp_path / "msg").write_bytes(b"from openssl")
    subprocess.run(["openssl", "dgst", "-sm3", "-sign", str(tmp_path / "k.der"), "-keyform", "DER",
                    "-sigopt", "distid:1234567812345678", "-out", str(tmp_path / "s.der"), str(tmp_path / "msg")],
                   check=True)
    signature = (tmp_path / "s.der").read_bytes()
    assert key.public_key().verify(b"from openssl", signature)
    assert pubkey.verify_host(key.public_key().spki, b"from openssl", signature, Mechanism.SM2_SM3)


def test_e_is_what_a_token_signs(key: sm2.Sm2PrivateKey) -> None:
    public = key.public_key()
    e = sm2.e_value(public.point, b"m")
    assert e == sm2.sm3(sm2.z_value(public.point) + b"m") and len(e) == 32
    assert public.verify(b"m", key.sign_digest(e))
    with pytest.raises(InvalidInput, match="32 bytes"):
        key.sign_digest(b"\0" * 31)


def test_z_uses_entl_in_bits_and_the_curve() -> None:
    # Z for the generator point with the default ID, built by hand from GM/T 0003.2's formula.
    g = b"\x04" + sm2.encoding.GX.to_bytes(32, "big") + sm2.encoding.GY.to_bytes(32, "big")
    curve = b"".join(v.to_bytes(32, "big") for v in (sm2.encoding.A, sm2.encoding.B,
                                                    sm2.encoding.GX, sm2.encoding.GY))
    assert sm2.z_value(g) == sm2.sm3(b"\x00\x80" + b"1234567812345678" + curve + g[1:])


def test_spki_round_trip_and_key_type(key: sm2.Sm2PrivateKey) -> None:
    public = key.public_key()
    spki = sm2.spki_from_point(public.point)
    assert spki == public.spki and sm2.point_from_spki(spki) == public.point
    assert sm2.is_sm2_spki(spki) and pubkey.key_type_of_spki(spki) is KeyType.SM2
    assert bytes.fromhex("06082a811ccf5501822d") in spki  # the SM2 curve OID, named
    pem = pubkey.spki_to_pem(spki)
    assert pem.startswith(b"-----BEGIN PUBLIC KEY-----") and pubkey.load_public_key(pem) == spki
    text = subprocess.run(["openssl", "pkey", "-pubin", "-noout", "-text"], input=pem, capture_output=True,
                          check=True).stdout
    assert b"ASN1 OID: SM2" in text


def test_compressed_point_expands_and_off_curve_points_are_refused(key: sm2.Sm2PrivateKey) -> None:
    point = key.public_key().point
    compressed = bytes([2 + (point[-1] & 1)]) + point[1:33]
    assert sm2.check_point(compressed) == point
    bad = point[:-1] + bytes([point[-1] ^ 1])
    with pytest.raises(InvalidInput, match="not a point on the SM2 curve"):
        sm2.check_point(bad)
    with pytest.raises(InvalidInput):
        sm2.Sm2PublicKey.from_point(point[:64])


def test_private_key_forms_round_trip(key: sm2.Sm2PrivateKey) -> None:
    again = sm2.Sm2PrivateKey.from_scalar(key.scalar())
    assert again.public_key() == key.public_key()
    assert sm2.Sm2PrivateKey.from_pkcs8(key.pkcs8()).scalar() == key.scalar()
    assert "private" in repr(key) and key.scalar().hex() not in repr(key)
    with pytest.raises(InvalidInput):
        sm2.Sm2PrivateKey.from_scalar(b"\0" * 32)


def test_encryption_round_trips_in_every_form(tmp_path: Path, key: sm2.Sm2PrivateKey) -> None:
    secret = bytes(range(16))
    ciphertext = key.public_key().encrypt(secret)
    assert key.decrypt(ciphertext) == secret
    assert key.decrypt(sm2.Sm2Ciphertext.from_der(ciphertext.to_der())) == secret
    raw = ciphertext.to_c1c3c2()
    assert len(raw) == 97 + 16
    assert key.decrypt(sm2.Sm2Ciphertext.from_c1c3c2(raw)) == secret
    assert key.decrypt(sm2.Sm2Ciphertext.from_c1c3c2(raw[1:], prefixed=False)) == secret
    # openssl decrypts our GM/T 0009 DER form with the same key
    (tmp_path / "k.der").write_bytes(key.pkcs8())
    (tmp_path / "ct").write_bytes(ciphertext.to_der())
    out = subprocess.run(["openssl", "pkeyutl", "-decrypt", "-keyform", "DER", "-inkey", str(tmp_path / "k.der"),
                          "-in", str(tmp_path / "ct")], capture_output=True, check=True).stdout
    assert out == secret


def test_sm4_known_answer_and_modes() -> None:
    k = bytes.fromhex("0123456789abcdeffedcba9876543210")
    assert sm2.sm4.encrypt(k, k).hex() == "681edf34d206965e86b3e94f536e4246"  # GB/T 32907 example 1
    iv = bytes(16)
    data = b"not a whole block"
    assert sm2.sm4.decrypt(k, sm2.sm4.encrypt(k, data, iv=iv, pad=True), iv=iv, pad=True) == data
    with pytest.raises(InvalidInput, match="whole 16-byte blocks"):
        sm2.sm4.encrypt(k, data)


def test_host_verify_refuses_a_mechanism_that_does_not_fit(key: sm2.Sm2PrivateKey) -> None:
    spki, signature = key.public_key().spki, key.sign(b"x")
    assert pubkey.verify_host(spki, b"x", signature, Mechanism.SM2_SM3)
    assert not pubkey.verify_host(spki, b"x", signature, Mechanism.ECDSA_SHA256)
    assert KeyType.SM2.default_mechanism is Mechanism.SM2_SM3 and Mechanism.SM2_SM3.hash_name == "sm3"
