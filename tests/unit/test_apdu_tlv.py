"""TLV and OpenPGP data-object parsers against canned card responses."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from sitoken.pcsc import tlv
from sitoken.pcsc.openpgp_data import (
    AlgorithmAttributes,
    ApplicationData,
    CardAid,
    KeySlot,
    PwStatus,
    rsa_public_key_der,
)
from sitoken.pcsc.tlv import MalformedResponse
from sitoken.token import KeyType

# GET DATA 6E of the test bed's emulated card (v3.41, manufacturer FFFE, serial 00000001).
APP_DATA = bytes.fromhex(
    "7381EE4F10D276000124010341FFFE00000001000" "05F520A0031E473FB11FF0590007F6608"
    "0202FFFF0202FFFFC00A7D00FFFFFFFFFFFF0001C10601080000200" "0C20B122B060104019755"
    "010501C30601080000200" "0C4070" "07F7F7F030003C53C" + "00" * 60 + "C63C" + "00" * 60
    + "CD0C" + "00" * 12 + "DE06000001000200"
)


def test_tlv_parses_multibyte_tags_and_long_lengths() -> None:
    data = bytes.fromhex("7F4982010981820100") + b"\x01" * 256 + bytes.fromhex("8203010001")
    outer = tlv.parse_tlvs(data[:5 + 0x109])
    assert outer[0].tag == 0x7F49 and outer[0].constructed
    assert tlv.find(data[:5 + 0x109], 0x82) == bytes.fromhex("010001")
    assert tlv.encode_tlv(0x7F21, b"\x00" * 200)[:5] == bytes.fromhex("7F2181C8") + b"\x00"


@pytest.mark.parametrize("bad", ["", "5F", "5FFFFF01", "0105", "01820001", "0180", "0184000000"])
def test_tlv_rejects_malformed_bytes(bad: str) -> None:
    with pytest.raises(MalformedResponse):
        tlv.parse_tlvs(bytes.fromhex(bad)) if bad else tlv.read_tlv(b"")


def test_application_data_of_the_emulated_card() -> None:
    app = ApplicationData.parse(APP_DATA)
    assert app.aid == CardAid((3, 0x41), 0xFFFE, 1)
    assert app.aid.serial_hex == "00000001" and app.aid.version_text == "3.41"
    assert app.pw_status == PwStatus(False, 127, 127, 127, 3, 0, 3)
    assert app.attributes[KeySlot.SIG].key_type is KeyType.RSA2048
    assert app.attributes[KeySlot.DEC].key_type is None  # X25519: not a signing key type
    assert app.extended_length
    assert not any(app.has_key(slot) for slot in KeySlot)


def test_aid_manufacturers() -> None:
    assert CardAid.parse(bytes.fromhex("D2760001240103040006123456780000")).manufacturer == "Yubico"
    assert CardAid.parse(bytes.fromhex("D2760001240103040006123456780000")).version_text == "3.4"
    with pytest.raises(MalformedResponse):
        CardAid.parse(bytes.fromhex("A000000308"))


def test_public_key_template_to_spki() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    n = key.public_numbers().n.to_bytes(256, "big")
    body = tlv.encode_tlv(0x81, n) + tlv.encode_tlv(0x82, b"\x01\x00\x01")
    template = tlv.encode_tlv(0x7F49, body)
    spki = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    assert rsa_public_key_der(template) == spki
    with pytest.raises(MalformedResponse):
        rsa_public_key_der(tlv.encode_tlv(0x7F49, tlv.encode_tlv(0x81, n)))


def test_card_curve_oids_come_from_the_algorithm_table() -> None:
    # OpenPGP card algorithm attributes: algorithm ID, then the curve OID's DER content.
    p256 = AlgorithmAttributes.parse(bytes.fromhex("132A8648CE3D030107"))
    ed25519 = AlgorithmAttributes.parse(bytes.fromhex("162B06010401DA470F01"))
    assert p256.key_type is KeyType.EC_P256 and ed25519.key_type is KeyType.ED25519
