"""OpenPGP card data objects (spec v3.4): constants and parsers, free of any I/O."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from enum import Enum

from asn1crypto import core
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ..algorithms import KEYS, key_type_for_rsa_bits
from ..errors import NotSupported
from ..token import KeyType
from . import tlv
from .tlv import MalformedResponse

OPENPGP_AID = bytes.fromhex("D27600012401")
RID = bytes.fromhex("D276000124")

# Data object tags (GET DATA / PUT DATA P1-P2).
DO_APPLICATION_RELATED = 0x6E
DO_CARDHOLDER_RELATED = 0x65
DO_NAME = 0x5B
DO_AID = 0x4F
DO_EXTENDED_CAPABILITIES = 0xC0
DO_PW_STATUS = 0xC4
DO_FINGERPRINTS = 0xC5
DO_KEY_INFORMATION = 0xDE
DO_CARDHOLDER_CERTIFICATE = 0x7F21
DO_PUBLIC_KEY = 0x7F49
DO_SIGNATURE_COUNTER = 0x93
DO_SECURITY_SUPPORT = 0x7A

# PW references (VERIFY / CHANGE REFERENCE DATA P2).
PW1_SIGN = 0x81  # PW1 for PSO:CDS
PW1_OTHER = 0x82  # PW1 for decipher, authenticate, private DOs
PW3 = 0x83  # admin PIN

#: DO C4 is 7 bytes (spec 3.4 §4.4.3.8): GET DATA asks for exactly that.
PW_STATUS_SIZE = 7
#: The spec's default retry counter. The card reports tries left, never its maximum.
DEFAULT_TRIES = 3
PW1_MIN_LENGTH = 6
PW3_MIN_LENGTH = 8


class KeySlot(Enum):
    """The card's three key slots: control reference tag, algorithm attribute DO, key ref."""

    SIG = (0xB6, 0xC1, 1)
    DEC = (0xB8, 0xC2, 2)
    AUT = (0xA4, 0xC3, 3)

    @property
    def crt(self) -> int:
        return self.value[0]

    @property
    def attributes_tag(self) -> int:
        return self.value[1]

    @property
    def number(self) -> int:
        return self.value[2]

    @property
    def label(self) -> str:
        return self.name.lower()


SLOT_ALIASES: dict[str, KeySlot] = {
    **{alias: KeySlot.SIG for alias in ("sig", "sign", "signature", "1", "01", "id:01")},
    **{alias: KeySlot.DEC for alias in ("dec", "decrypt", "decryption", "enc", "2", "02", "id:02")},
    **{alias: KeySlot.AUT for alias in ("aut", "auth", "authentication", "3", "03", "id:03")},
}

#: OpenPGP card 3.x: one cardholder certificate (DO 7F21) per key, selected by SELECT DATA
#: with its occurrence: the AUT key's first, then DEC, then SIG.
CERTIFICATE_OCCURRENCE = {KeySlot.AUT: 0, KeySlot.DEC: 1, KeySlot.SIG: 2}
#: SELECT DATA's data field: tag 60 holding the tag list 5C (7F21).
SELECT_CERTIFICATE = bytes.fromhex("6004" "5C027F21")

# Manufacturer IDs of the AID (the registry is kept by the OpenPGP card spec's maintainer).
_MANUFACTURERS = {0x0005: "ZeitControl", 0x0006: "Yubico", 0xF517: "FSIJ"}


@dataclass(frozen=True)
class CardAid:
    """The application identifier: version, manufacturer and serial of the card."""

    version: tuple[int, int]
    manufacturer_id: int
    serial: int

    @classmethod
    def parse(cls, aid: bytes) -> CardAid:
        if len(aid) < 14 or not aid.startswith(OPENPGP_AID[:5]):
            raise MalformedResponse("not an OpenPGP AID")
        manufacturer, serial = struct.unpack(">HI", aid[8:14])
        return cls((aid[6], aid[7]), manufacturer, serial)

    @property
    def serial_hex(self) -> str:
        return f"{self.serial:08X}"

    @property
    def version_text(self) -> str:
        # The version is BCD: 03 04 is 3.4; the emulator's 03 41 reads 3.41, as OpenSC shows.
        return f"{self.version[0]:x}.{self.version[1]:x}"

    @property
    def manufacturer(self) -> str:
        mid = self.manufacturer_id
        if mid in _MANUFACTURERS:
            return _MANUFACTURERS[mid]
        if mid in (0x0000, 0xFFFF):
            return "test card"
        if 0xFF00 <= mid <= 0xFFFE:
            return f"unmanaged ({mid:04X})"
        return f"manufacturer {mid:04X}"


@dataclass(frozen=True)
class PwStatus:
    """DO C4: PIN lengths and the tries left of PW1, the resetting code and PW3."""

    pw1_multiple_signatures: bool
    pw1_max_length: int
    rc_max_length: int
    pw3_max_length: int
    pw1_tries: int
    rc_tries: int
    pw3_tries: int

    @classmethod
    def parse(cls, data: bytes) -> PwStatus:
        if len(data) < 7:
            raise MalformedResponse("PW status bytes: fewer than 7 bytes")
        b = data[:7]
        return cls(b[0] != 0, b[1] & 0x7F, b[2], b[3] & 0x7F, b[4], b[5], b[6])

    def tries(self, reference: int) -> int:
        return self.pw3_tries if reference == PW3 else self.pw1_tries


@dataclass(frozen=True)
class AlgorithmAttributes:
    """DO C1/C2/C3: the algorithm a key slot is set up for."""

    algorithm: int
    detail: bytes

    @classmethod
    def parse(cls, data: bytes) -> AlgorithmAttributes:
        if not data:
            raise MalformedResponse("algorithm attributes: empty")
        return cls(data[0], bytes(data[1:]))

    @property
    def rsa_bits(self) -> int | None:
        """The modulus size of an RSA slot (None for other algorithms)."""
        if self.algorithm == 0x01 and len(self.detail) >= 2:
            return int.from_bytes(self.detail[:2], "big")
        return None

    @property
    def key_type(self) -> KeyType | None:
        if self.algorithm == 0x01 and len(self.detail) >= 2:
            bits = int.from_bytes(self.detail[:2], "big")
            return key_type_for_rsa_bits(bits)
        oid = self.detail.rstrip(b"\xff")
        return _EC_OIDS.get((self.algorithm, oid))


def _oid_content(dotted: str) -> bytes:
    return bytes(core.ObjectIdentifier(dotted).contents)


# OpenPGP cards name the curve by its OID's DER content after the algorithm ID (ECDSA 0x13,
# EdDSA 0x16); they name Ed25519 by GnuPG's OID, not RFC 8410's.
_OPENPGP_ED25519_OID = "1.3.6.1.4.1.11591.15.1"
_EC_OIDS = {
    **{(0x13, _oid_content(f.curve_oid)): kt for kt, f in KEYS.items() if f.family == "ec" and f.curve_oid},
    (0x16, _oid_content(_OPENPGP_ED25519_OID)): KeyType.ED25519,
}


@dataclass(frozen=True)
class ApplicationData:
    """What sitoken reads from DO 6E in one GET DATA."""

    aid: CardAid
    pw_status: PwStatus
    fingerprints: tuple[bytes, bytes, bytes]
    attributes: dict[KeySlot, AlgorithmAttributes]
    key_status: dict[KeySlot, int]  # DO DE: 0 absent, 1 generated, 2 imported
    extended_length: bool

    @classmethod
    def parse(cls, data: bytes) -> ApplicationData:
        aid = _required(data, DO_AID)
        fps = tlv.find(data, DO_FINGERPRINTS) or bytes(60)
        fps = fps.ljust(60, b"\x00")
        attributes = {
            slot: AlgorithmAttributes.parse(value)
            for slot in KeySlot
            if (value := tlv.find(data, slot.attributes_tag))
        }
        caps = tlv.find(data, DO_EXTENDED_CAPABILITIES) or b""
        historical = tlv.find(data, 0x5F52) or b""
        return cls(
            aid=CardAid.parse(aid),
            pw_status=PwStatus.parse(_required(data, DO_PW_STATUS)),
            fingerprints=(fps[0:20], fps[20:40], fps[40:60]),
            attributes=attributes,
            key_status=_key_status(tlv.find(data, DO_KEY_INFORMATION) or b""),
            extended_length=_extended_length(caps, historical),
        )

    def has_key(self, slot: KeySlot) -> bool:
        # The fingerprint, not DO DE: the emulator numbers DE's key references from 0, and
        # every tool that generates or imports a key (gpg, OpenSC, sitoken) writes it.
        return any(self.fingerprints[slot.number - 1])


def _required(data: bytes, tag: int) -> bytes:
    value = tlv.find(data, tag)
    if value is None:
        raise MalformedResponse(f"application data: DO {tag:X} missing")
    return value


def _key_status(data: bytes) -> dict[KeySlot, int]:
    by_number = {slot.number: slot for slot in KeySlot}
    pairs = zip(data[0::2], data[1::2], strict=False)
    return {by_number[ref]: status for ref, status in pairs if ref in by_number}


def atr_historical_bytes(atr: bytes) -> bytes:
    """The historical bytes of an ATR (ISO 7816-3 §8.2): after T0 and the TAi..TDi chain."""
    if len(atr) < 2:
        raise MalformedResponse("ATR shorter than TS and T0")
    count, pos, indicator = atr[1] & 0x0F, 2, atr[1]
    while True:
        pos += bin(indicator & 0xF0).count("1")  # TAi, TBi, TCi, TDi present
        if not indicator & 0x80:
            break
        if pos > len(atr):
            raise MalformedResponse("ATR interface bytes run past its end")
        indicator = atr[pos - 1]  # TDi: the next indicator
    if pos + count > len(atr):
        raise MalformedResponse("ATR shorter than its historical bytes")
    return atr[pos : pos + count]


def extended_length_in_atr(atr: bytes) -> bool:
    """Whether the card announces extended Lc/Le in its ATR, before anything is sent."""
    return _extended_length(b"", atr_historical_bytes(atr))


def _extended_length(caps: bytes, historical: bytes) -> bool:
    """Extended Lc/Le, from the card capabilities in the historical bytes (ISO 7816-4 §8.1.1.2.7).

    Historical bytes are: category 00, then COMPACT-TLV objects; tag 7 (card capabilities)
    has "extended Lc and Le fields" as bit 0x40 of its third byte.
    """
    del caps  # DO C0 only gives maximum lengths; the capability bit lives in the historical bytes
    if not historical or historical[0] != 0x00:
        return False
    pos = 1
    while pos < len(historical):
        tag, length = historical[pos] >> 4, historical[pos] & 0x0F
        value = historical[pos + 1 : pos + 1 + length]
        if tag == 7 and len(value) >= 3:
            return bool(value[2] & 0x40)
        pos += 1 + length
    return False


def rsa_public_key_der(template: bytes) -> bytes:
    """DER SubjectPublicKeyInfo from a 7F49 public key template (RSA: 81 n, 82 e)."""
    inner = tlv.find(template, DO_PUBLIC_KEY)
    body = inner if inner is not None else template
    modulus, exponent = tlv.find(body, 0x81), tlv.find(body, 0x82)
    if modulus is None or exponent is None:
        if tlv.find(body, 0x86) is not None:
            raise NotSupported("EC public keys are not read by this driver yet")
        raise MalformedResponse("public key template without modulus or exponent")
    n, e = int.from_bytes(modulus, "big"), int.from_bytes(exponent, "big")
    if n < 3 or e < 3:
        raise MalformedResponse("public key template with a bad modulus or exponent")
    try:
        key = rsa.RSAPublicNumbers(e, n).public_key()
    except ValueError as exc:  # even modulus, e >= n, ...: the card sent no usable RSA key
        raise MalformedResponse(f"public key template with an unusable RSA key: {exc}") from None
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    return key.public_bytes(serialization.Encoding.DER, spki)


def openpgp_fingerprint(public_der: bytes, timestamp: int) -> bytes:
    """V4 fingerprint of an RSA key (RFC 4880 §12.2), written to the card after key generation."""
    key = serialization.load_der_public_key(public_der)
    if not isinstance(key, rsa.RSAPublicKey):
        raise NotSupported("fingerprints are computed for RSA keys only")
    numbers = key.public_numbers()
    body = bytes([4]) + struct.pack(">I", timestamp) + bytes([1])
    body += _mpi(numbers.n) + _mpi(numbers.e)
    return hashlib.sha1(b"\x99" + struct.pack(">H", len(body)) + body).digest()


def _mpi(value: int) -> bytes:
    size = (value.bit_length() + 7) // 8
    return struct.pack(">H", value.bit_length()) + value.to_bytes(size, "big")
