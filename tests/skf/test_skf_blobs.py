"""SKF structures parsed from canned bytes: name lists, DEVINFO, key, signature, cipher and envelope blobs."""

from __future__ import annotations

import struct

import pytest

from sitoken import sm2
from sitoken.errors import InvalidInput, KeyNotFound, NotSupported, PinIncorrect, PinLocked, SkfError, TokenAbsent
from sitoken.skf import blobs
from sitoken.skf.blobs import MalformedBlob
from sitoken.skf.constants import sar_name
from sitoken.skf.errors import error_for_sar

POINT = bytes.fromhex(
    "04" "32c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7"
    "bc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0"
)  # the SM2 generator: a point on the curve


@pytest.mark.parametrize(("raw", "size", "names"), [
    (b"dev1\0dev2\0\0", 11, ["dev1", "dev2"]),
    (b"dev1\0\0", 6, ["dev1"]),
    (b"dev1\0", 5, ["dev1"]),  # a library that leaves out the extra NUL
    (b"\0\0", 2, []),
    (b"\0", 1, []),  # an empty list of one NUL (some libraries)
    (b"", 0, []),
    (b"a\0b\0\0garbage", 5, ["a", "b"]),  # bytes past the reported size are not read
    (b"a\0b\0\0", 4096, ["a", "b"]),  # a size beyond the buffer is cut to the buffer
    (b"\xc9\xe7\xb1\xa3\0\0", 6, [b"\xc9\xe7\xb1\xa3".decode("utf-8", "surrogateescape")]),  # GBK survives
])
def test_name_lists(raw: bytes, size: int, names: list[str]) -> None:
    assert blobs.parse_name_list(raw, size) == names
    if names:
        assert blobs.parse_name_list(blobs.build_name_list(names), 1000) == names
        assert blobs.encode_name(names[0]) == raw.split(b"\0")[0]


@pytest.mark.parametrize(("raw", "size"), [(b"dev1", 4), (b"dev1\0dev", 8), (b"ab\0cd", 100)])
def test_a_name_cut_short_is_refused(raw: bytes, size: int) -> None:
    with pytest.raises(MalformedBlob, match="ends inside a name"):
        blobs.parse_name_list(raw, size)


def _devinfo(ulong: int = 4) -> bytes:
    fmt = "=I" if ulong == 4 else "=Q"
    text = (b"Maker".ljust(64, b"\0") + b"Issuer CA".ljust(64, b"\0") + b"ukey".ljust(32, b"\0")
            + b"SN0001".ljust(32, b"\0"))
    numbers = b"".join(struct.pack(fmt, v) for v in (0x401, 0x20200 | 0x10000, 1, 0x401, 1000, 600, 512, 4096))
    return bytes([1, 0]) + text + bytes([2, 1, 3, 4]) + numbers + b"\0" * 64


def test_devinfo_packed_layout_for_both_ulong_widths() -> None:
    data = _devinfo()
    assert len(data) == blobs.devinfo_size() == 294 and data.index(struct.pack("=I", 0x401)) == 198
    info = blobs.DevInfo.parse(data)
    assert (info.manufacturer, info.issuer, info.label, info.serial) == ("Maker", "Issuer CA", "ukey", "SN0001")
    assert (info.hw_version, info.firmware_version, info.version) == ("2.1", "3.4", "1.0")
    assert (info.alg_asym_cap, info.dev_auth_alg_id, info.free_space, info.max_buffer) == (0x30200, 0x401, 600, 4096)
    assert blobs.DevInfo.parse(_devinfo(8), 8) == info
    with pytest.raises(MalformedBlob, match="DEVINFO is 294 bytes"):
        blobs.DevInfo.parse(data[:293])


def test_ecc_public_blob_is_right_aligned_and_checked() -> None:
    blob = blobs.build_ecc_public_blob(POINT)
    assert len(blob) == 132 and blob[:4] == struct.pack("=I", 256) and blob[4:36] == bytes(32)
    assert blob[36:68] == POINT[1:33] and blob[100:132] == POINT[33:]
    assert blobs.parse_ecc_public_blob(blob) == POINT
    with pytest.raises(MalformedBlob, match="BitLen 256"):
        blobs.parse_ecc_public_blob(struct.pack("=I", 384) + blob[4:])
    with pytest.raises(MalformedBlob, match="leading bytes"):
        blobs.parse_ecc_public_blob(blob[:4] + b"\1" + blob[5:])
    with pytest.raises(MalformedBlob, match="not a point"):
        blobs.parse_ecc_public_blob(blob[:-1] + bytes([blob[-1] ^ 1]))
    with pytest.raises(MalformedBlob, match="shorter"):
        blobs.parse_ecc_public_blob(blob[:131])


def test_signature_blob_to_r_s_and_back() -> None:
    r, s = (1).to_bytes(32, "big"), (sm2.encoding.N - 1).to_bytes(32, "big")
    blob = blobs.build_ecc_signature_blob(r + s)
    assert len(blob) == 128 and blob[:32] == bytes(32) and blobs.parse_ecc_signature_blob(blob) == r + s
    with pytest.raises(MalformedBlob, match="out of range"):
        blobs.parse_ecc_signature_blob(bytes(128))
    with pytest.raises(MalformedBlob):
        blobs.parse_ecc_signature_blob(blob[:100])


def test_cipher_blob_and_envelope_offsets() -> None:
    ciphertext = sm2.Sm2Ciphertext(POINT[1:33], POINT[33:], b"\x11" * 32, b"\x22" * 16)
    blob = blobs.build_ecc_cipher_blob(ciphertext)
    assert len(blob) == blobs.ecc_cipher_blob_size(16) == 165 + 16 - 1
    assert blobs.parse_ecc_cipher_blob(blob) == ciphertext
    assert blobs.parse_ecc_cipher_blob(blob + b"tail") == ciphertext  # a Cipher[65] or [256] tail
    with pytest.raises(MalformedBlob, match="CipherLen"):
        blobs.parse_ecc_cipher_blob(blob[:-1])
    envelope = blobs.build_enveloped_key_blob(0x401, b"\x33" * 32, POINT, ciphertext)
    assert envelope[:12] == struct.pack("=III", 1, 0x401, 256)
    assert envelope[12:44] == bytes(32) and envelope[44:76] == b"\x33" * 32  # 32 bytes go at offset 32
    assert envelope[76:208] == blobs.build_ecc_public_blob(POINT) and envelope[208:] == blob
    with pytest.raises(InvalidInput):
        blobs.build_enveloped_key_blob(0x401, b"\x33" * 16, POINT, ciphertext)


def test_rsa_public_blob_to_spki() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    numbers = rsa.generate_private_key(65537, 2048).public_key().public_numbers()
    blob = struct.pack("=II", 0x10000, 2048) + numbers.n.to_bytes(256, "big") + (65537).to_bytes(4, "big")
    public = serialization.load_der_public_key(blobs.parse_rsa_public_blob(blob))
    assert isinstance(public, rsa.RSAPublicKey) and public.public_numbers() == numbers
    with pytest.raises(MalformedBlob):
        blobs.parse_rsa_public_blob(struct.pack("=II", 0x10000, 2047) + blob[8:])


def test_sar_codes_map_to_the_error_tree_and_keep_their_number() -> None:
    wrong = error_for_sar(0x0A000024, "SKF_VerifyPIN", remaining=3)
    assert isinstance(wrong, PinIncorrect) and wrong.remaining == 3 and "3 tries left" in str(wrong)
    assert isinstance(error_for_sar(0x0A000024, "SKF_VerifyPIN", remaining=0), PinLocked)
    assert isinstance(error_for_sar(0x0A000025, "SKF_VerifyPIN"), PinLocked)
    assert isinstance(error_for_sar(0x0A000023, "SKF_ConnectDev"), TokenAbsent)
    assert isinstance(error_for_sar(0x0A000003, "SKF_X"), NotSupported)
    assert isinstance(error_for_sar(0x0A00001C, "SKF_ExportCertificate"), KeyNotFound)
    vendor = error_for_sar(0x0A000033, "SKF_CreateContainer")
    assert type(vendor) is SkfError and vendor.rv == 0x0A000033 and vendor.function == "SKF_CreateContainer"
    assert "0x0A000033" in str(vendor) and sar_name(0x0A00002D) == "SAR_USER_NOT_LOGGED_IN"
    assert vendor.to_dict()["rv"] == 0x0A000033
