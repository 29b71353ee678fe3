"""SKF structures as bytes: name lists, DEVINFO, key, signature and cipher blobs (SKF.md section 3).

Everything a library hands back is outside input: lengths are never trusted beyond the buffer,
names must end inside it, numbers must fit their fields. Structures are packed (pack(1)); ULONG
is 4 bytes unless the library says otherwise (``ulong``), in native byte order.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .. import pubkey, sm2
from ..errors import InvalidInput, SkfError
from ..sm2.envelope import EnvelopedKey
from .constants import SGD_SM4_ECB

FIELD = 64  # ECC coordinate, scalar and signature fields: 32-byte values right-aligned in 64
RSA_MODULUS = 256
RSA_EXPONENT = 4
DEVINFO_TEXT = (64, 64, 32, 32)  # Manufacturer, Issuer, Label, SerialNumber
DEVINFO_ULONGS = 8  # AlgSymCap .. MaxBufferSize
DEVINFO_RESERVED = 64


class MalformedBlob(SkfError):
    """An SKF library returned a structure that does not hold together (length, name, number)."""

    code = "skf-malformed"


def _ulong_format(ulong: int) -> str:
    if ulong not in (4, 8):
        raise ValueError("ULONG is 4 or 8 bytes")
    return "=I" if ulong == 4 else "=Q"


def read_ulong(data: bytes, offset: int, ulong: int = 4) -> int:
    if offset + ulong > len(data):
        raise MalformedBlob("an SKF structure ends before one of its numbers")
    return int(struct.unpack_from(_ulong_format(ulong), data, offset)[0])


def pack_ulong(value: int, ulong: int = 4) -> bytes:
    return struct.pack(_ulong_format(ulong), value)


# -- name lists ----------------------------------------------------------------------------------


def decode_name(raw: bytes) -> str:
    """A name as text; bytes that are not UTF-8 (a GBK name) survive the round trip to ``encode_name``."""
    return raw.decode("utf-8", "surrogateescape")


def encode_name(name: str) -> bytes:
    raw = name.encode("utf-8", "surrogateescape")
    if b"\0" in raw or not raw:
        raise InvalidInput("an SKF name is non-empty and has no NUL byte")
    return raw


def parse_name_list(buffer: bytes, size: int) -> list[str]:
    """Names from EnumDev/EnumApplication/EnumContainer/EnumFiles: NUL-terminated, ended by a double NUL.

    ``size`` is what the library reported; only ``min(size, len(buffer))`` bytes are read. A name
    that does not end with a NUL inside that span means the list was cut short: refused, since a
    truncated name would select another object.
    """
    span = buffer[: max(0, min(size, len(buffer)))]
    names: list[str] = []
    start = 0
    while start < len(span):
        end = span.find(b"\0", start)
        if end < 0:
            raise MalformedBlob("an SKF name list ends inside a name (no terminating NUL)")
        if end == start:
            break  # the list's extra NUL (an empty list may be one or two NULs)
        names.append(decode_name(span[start:end]))
        start = end + 1
    return names


def build_name_list(names: list[str]) -> bytes:
    """The double-NUL form (for tests and for comparing with what a library returns)."""
    return b"".join(encode_name(n) + b"\0" for n in names) + b"\0" * (1 if names else 2)


# -- DEVINFO --------------------------------------------------------------------------------------


def devinfo_size(ulong: int = 4) -> int:
    return 2 + sum(DEVINFO_TEXT) + 2 + 2 + DEVINFO_ULONGS * ulong + DEVINFO_RESERVED


@dataclass(frozen=True)
class DevInfo:
    """SKF_GetDevInfo's DEVINFO, with text fields cut at their first NUL."""

    version: str
    manufacturer: str
    issuer: str
    label: str
    serial: str
    hw_version: str
    firmware_version: str
    alg_sym_cap: int
    alg_asym_cap: int
    alg_hash_cap: int
    dev_auth_alg_id: int
    total_space: int
    free_space: int
    max_ecc_buffer: int
    max_buffer: int

    @classmethod
    def parse(cls, data: bytes, ulong: int = 4) -> DevInfo:
        if len(data) < devinfo_size(ulong):
            raise MalformedBlob(f"DEVINFO is {devinfo_size(ulong)} bytes; the library gave {len(data)}")
        texts, offset = [], 2
        for width in DEVINFO_TEXT:
            texts.append(_text(data[offset:offset + width]))
            offset += width
        numbers = [read_ulong(data, offset + 4 + i * ulong, ulong) for i in range(DEVINFO_ULONGS)]
        return cls(
            version=_version(data, 0), manufacturer=texts[0], issuer=texts[1], label=texts[2], serial=texts[3],
            hw_version=_version(data, offset), firmware_version=_version(data, offset + 2),
            alg_sym_cap=numbers[0], alg_asym_cap=numbers[1], alg_hash_cap=numbers[2], dev_auth_alg_id=numbers[3],
            total_space=numbers[4], free_space=numbers[5], max_ecc_buffer=numbers[6], max_buffer=numbers[7],
        )

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def _text(field: bytes) -> str:
    return decode_name(field.split(b"\0", 1)[0]).strip()


def _version(data: bytes, offset: int) -> str:
    return f"{data[offset]}.{data[offset + 1]}"


# -- ECC blobs --------------------------------------------------------------------------------------


def _right_aligned(field: bytes, what: str) -> bytes:
    """The 32-byte value in a 64-byte field; the leading 32 bytes must be zero."""
    if len(field) != FIELD:
        raise MalformedBlob(f"the {what} field is {FIELD} bytes")
    if any(field[: FIELD - sm2.encoding.SIZE]):
        raise MalformedBlob(f"the {what} does not fit 256 bits (its leading bytes are not zero)")
    return field[FIELD - sm2.encoding.SIZE:]


def _field(value: bytes) -> bytes:
    return value.rjust(FIELD, b"\0")


def ecc_public_blob_size(ulong: int = 4) -> int:
    return ulong + 2 * FIELD


def parse_ecc_public_blob(data: bytes, ulong: int = 4) -> bytes:
    """ECCPUBLICKEYBLOB → the checked point 04 ‖ X ‖ Y."""
    if len(data) < ecc_public_blob_size(ulong):
        raise MalformedBlob("an ECCPUBLICKEYBLOB is shorter than its fields")
    bits = read_ulong(data, 0, ulong)
    if bits != 256:
        raise MalformedBlob(f"an SM2 public key has BitLen 256, not {bits}")
    x = _right_aligned(data[ulong:ulong + FIELD], "public key X")
    y = _right_aligned(data[ulong + FIELD:ulong + 2 * FIELD], "public key Y")
    try:
        return sm2.point_from_xy(x, y)
    except InvalidInput as exc:
        raise MalformedBlob(f"the library's public key: {exc}") from None


def build_ecc_public_blob(point: bytes, ulong: int = 4) -> bytes:
    point = sm2.check_point(point)
    return pack_ulong(256, ulong) + _field(point[1:33]) + _field(point[33:])


def parse_ecc_signature_blob(data: bytes) -> bytes:
    """ECCSIGNATUREBLOB → r ‖ s (32 bytes each)."""
    if len(data) < 2 * FIELD:
        raise MalformedBlob("an ECCSIGNATUREBLOB is 128 bytes")
    r = _right_aligned(data[:FIELD], "signature r")
    s = _right_aligned(data[FIELD:2 * FIELD], "signature s")
    if not (0 < int.from_bytes(r, "big") < sm2.encoding.N and 0 < int.from_bytes(s, "big") < sm2.encoding.N):
        raise MalformedBlob("the signature's r or s is out of range")
    return r + s


def build_ecc_signature_blob(raw: bytes) -> bytes:
    if len(raw) != 2 * sm2.encoding.SIZE:
        raise InvalidInput("an SM2 signature is r ‖ s, 64 bytes")
    return _field(raw[:32]) + _field(raw[32:])


def ecc_cipher_blob_size(cipher_len: int, ulong: int = 4) -> int:
    """165 + CipherLen − 1 for a 4-byte ULONG; never less than the spec's one-byte tail."""
    return 2 * FIELD + 32 + ulong + max(1, cipher_len)


def build_ecc_cipher_blob(ciphertext: sm2.Sm2Ciphertext, ulong: int = 4) -> bytes:
    return (_field(ciphertext.x) + _field(ciphertext.y) + ciphertext.hash
            + pack_ulong(len(ciphertext.cipher), ulong) + ciphertext.cipher)


def parse_ecc_cipher_blob(data: bytes, ulong: int = 4) -> sm2.Sm2Ciphertext:
    head = 2 * FIELD + 32
    length = read_ulong(data, head, ulong)
    if length == 0 or head + ulong + length > len(data):
        raise MalformedBlob("an ECCCIPHERBLOB's CipherLen runs past its buffer (or is 0)")
    x = _right_aligned(data[:FIELD], "cipher C1 x")
    y = _right_aligned(data[FIELD:2 * FIELD], "cipher C1 y")
    tail = data[head + ulong: head + ulong + length]
    return sm2.Sm2Ciphertext(x, y, data[2 * FIELD:head], tail)


def build_enveloped_key_blob(
    sym_alg: int, encrypted_private: bytes, public_point: bytes, wrapped_key: sm2.Sm2Ciphertext, ulong: int = 4
) -> bytes:
    """ENVELOPEDKEYBLOB (version 1): a KMC's encryption key for SKF_ImportECCKeyPair (SKF.md section 7).

    ``encrypted_private`` is SM4-ECB of the 32-byte scalar (or of the whole 64-byte field); a
    32-byte one goes at offset 32, where tokens read the scalar, so both forms interoperate.
    """
    if len(encrypted_private) not in (32, 64):
        raise InvalidInput("the encrypted private key is 32 or 64 bytes")
    return (pack_ulong(1, ulong) + pack_ulong(sym_alg, ulong) + pack_ulong(256, ulong)
            + _field(encrypted_private) + build_ecc_public_blob(public_point, ulong)
            + build_ecc_cipher_blob(wrapped_key, ulong))


def enveloped_key_blob(envelope: EnvelopedKey, ulong: int = 4) -> bytes:
    """The ENVELOPEDKEYBLOB for a KMC's DER SM2EnvelopedKey (its SM4-ECB key: SGD_SM4_ECB)."""
    return build_enveloped_key_blob(SGD_SM4_ECB, envelope.encrypted_private, envelope.public_point,
                                    envelope.wrapped_key, ulong)


# -- RSA -----------------------------------------------------------------------------------------------


def rsa_public_blob_size(ulong: int = 4) -> int:
    return 2 * ulong + RSA_MODULUS + RSA_EXPONENT


def parse_rsa_public_blob(data: bytes, ulong: int = 4) -> bytes:
    """RSAPUBLICKEYBLOB → a DER SubjectPublicKeyInfo."""
    if len(data) < rsa_public_blob_size(ulong):
        raise MalformedBlob("an RSAPUBLICKEYBLOB is shorter than its fields")
    bits = read_ulong(data, ulong, ulong)
    if bits % 8 or not 1024 <= bits <= 8 * RSA_MODULUS:
        raise MalformedBlob(f"an RSA key of {bits} bits does not fit an RSAPUBLICKEYBLOB")
    field = data[2 * ulong:2 * ulong + RSA_MODULUS]
    size = bits // 8
    # The modulus is in the first BitLen/8 bytes, or right-aligned in some libraries.
    modulus = field[:size] if not any(field[size:]) else field[RSA_MODULUS - size:]
    exponent = data[2 * ulong + RSA_MODULUS:2 * ulong + RSA_MODULUS + RSA_EXPONENT]
    if modulus[0] & 0x80 == 0 or int.from_bytes(exponent, "big") < 3:
        raise MalformedBlob(f"the RSA public key is not a {bits}-bit modulus with an exponent")
    return pubkey.rsa_spki(modulus, exponent)
