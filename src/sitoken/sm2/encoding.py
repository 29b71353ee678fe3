"""SM2 facts and encodings that need no key: the curve, SM3, Z and e, SPKI, ciphertext forms.

Sources: GM/T 0003 (the curve, Z, C1C3C2), GM/T 0009 (the default ID, the DER ciphertext),
GM/T 0006 (OIDs), as summarised in shared/SKF.md sections 6 and 8.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from asn1crypto import core, keys

from ..algorithms import SM2_DEFAULT_ID
from ..errors import InvalidInput

#: GM/T 0009's default signer ID, used whenever no other ID is agreed (16 ASCII bytes).
DEFAULT_ID = SM2_DEFAULT_ID  # the one copy lives in the table of algorithm facts

SM2_CURVE_OID = "1.2.156.10197.1.301"
SM2_SIGN_OID = "1.2.156.10197.1.301.1"
SM2_ENCRYPT_OID = "1.2.156.10197.1.301.3"
SM3_OID = "1.2.156.10197.1.401"
SM2_WITH_SM3_OID = "1.2.156.10197.1.501"
SM4_ECB_OID = "1.2.156.10197.1.104.1"
SM4_CBC_OID = "1.2.156.10197.1.104.2"
#: GM/T 0010 content types (SKF.md section 8), in place of PKCS#7's 1.2.840.113549.1.7.x.
GMT0010_DATA_OID = "1.2.156.10197.6.1.4.2.1"
GMT0010_SIGNED_DATA_OID = "1.2.156.10197.6.1.4.2.2"
GMT0010_ENVELOPED_DATA_OID = "1.2.156.10197.6.1.4.2.3"

# The curve (GM/T 0003.5), big-endian.
P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
A = P - 3
B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
GX = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
GY = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0
N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123

SIZE = 32  # bytes in every coordinate, scalar and signature half

# asn1crypto knows the NIST and Brainpool curves only; with the SM2 curve registered it encodes
# SM2 private keys (32-byte scalars) and names the OID "sm2p256v1" (``.dotted`` is unchanged).
keys.NamedCurve.register("sm2p256v1", SM2_CURVE_OID, SIZE)
_CURVE_BYTES = b"".join(v.to_bytes(SIZE, "big") for v in (A, B, GX, GY))
_MAX_ID_BYTES = 0xFFFF // 8  # ENTL is the ID length in bits, in two bytes


def sm3(data: bytes) -> bytes:
    """SM3 digest (hashlib when its OpenSSL has SM3, else cryptography's bundled one)."""
    if "sm3" in hashlib.algorithms_available:
        return hashlib.new("sm3", data).digest()
    from cryptography.hazmat.primitives import hashes

    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


def z_value(point: bytes, ident: bytes = DEFAULT_ID) -> bytes:
    """Z = SM3(ENTL ‖ ID ‖ a ‖ b ‖ xG ‖ yG ‖ xA ‖ yA) for an uncompressed public point."""
    if len(ident) > _MAX_ID_BYTES:
        raise InvalidInput(f"an SM2 signer ID is at most {_MAX_ID_BYTES} bytes")
    xy = check_point(point)[1:]
    entl = (len(ident) * 8).to_bytes(2, "big")
    return sm3(entl + ident + _CURVE_BYTES + xy)


def e_value(point: bytes, message: bytes, ident: bytes = DEFAULT_ID) -> bytes:
    """e = SM3(Z ‖ M): the 32 bytes an SKF token (SKF_ECCSignData) or ``sign_digest`` signs."""
    return sm3(z_value(point, ident) + message)


def check_point(point: bytes) -> bytes:
    """The point as 04 ‖ X ‖ Y, checked to lie on the curve; compressed points are expanded."""
    if len(point) == 1 + SIZE and point[0] in (2, 3):
        point = _decompress(point)
    if len(point) != 1 + 2 * SIZE or point[0] != 4:
        raise InvalidInput("an SM2 public key is a 65-byte uncompressed point (04 ‖ X ‖ Y)")
    x, y = int.from_bytes(point[1:33], "big"), int.from_bytes(point[33:], "big")
    if not (x < P and y < P and (y * y - (x * x * x + A * x + B)) % P == 0):
        raise InvalidInput("the SM2 public key is not a point on the SM2 curve")
    return point


def _decompress(point: bytes) -> bytes:
    x = int.from_bytes(point[1:], "big")
    if x >= P:
        raise InvalidInput("the SM2 public key is not a point on the SM2 curve")
    y = pow((x * x * x + A * x + B) % P, (P + 1) // 4, P)  # P = 3 mod 4: one exponentiation
    if y & 1 != point[0] & 1:
        y = P - y
    return b"\x04" + x.to_bytes(SIZE, "big") + y.to_bytes(SIZE, "big")


def point_from_xy(x: bytes, y: bytes) -> bytes:
    """04 ‖ X ‖ Y from coordinates of any length up to 32 bytes (leading zeros may be missing)."""
    if len(x.lstrip(b"\0")) > SIZE or len(y.lstrip(b"\0")) > SIZE:
        raise InvalidInput("an SM2 coordinate is at most 32 bytes")
    return check_point(b"\x04" + x[-SIZE:].rjust(SIZE, b"\0") + y[-SIZE:].rjust(SIZE, b"\0"))


def _algorithm() -> keys.PublicKeyAlgorithm:
    curve = keys.ECDomainParameters(name="named", value=SM2_CURVE_OID)
    return keys.PublicKeyAlgorithm({"algorithm": "ec", "parameters": curve})


def spki_from_point(point: bytes) -> bytes:
    """SubjectPublicKeyInfo: id-ecPublicKey with the SM2 curve, as X.509 and OpenSSL write it."""
    info = keys.PublicKeyInfo({"algorithm": _algorithm(), "public_key": check_point(point)})
    return bytes(info.dump())


def is_sm2_spki(spki: bytes) -> bool:
    """True for an id-ecPublicKey SPKI on the SM2 curve (whether or not the point is valid)."""
    try:
        algorithm = keys.PublicKeyInfo.load(spki)["algorithm"]
        return bool(algorithm["algorithm"].native == "ec" and algorithm["parameters"].chosen.dotted == SM2_CURVE_OID)
    except (ValueError, TypeError, AttributeError, KeyError):
        return False


def point_from_spki(spki: bytes) -> bytes:
    """The checked public point of an SM2 SPKI; InvalidInput for anything else."""
    if not is_sm2_spki(spki):
        raise InvalidInput("not an SM2 public key (id-ecPublicKey with curve 1.2.156.10197.1.301)")
    try:
        point = bytes(keys.PublicKeyInfo.load(spki)["public_key"].native)
    except (ValueError, TypeError):
        raise InvalidInput("the SM2 public key's bit string is malformed") from None
    return check_point(point)


class _Sm2Cipher(core.Sequence):  # type: ignore[misc]
    """GM/T 0009 SM2Cipher: what OpenSSL 3 produces and consumes, and GM/T 0010 envelopes carry."""

    _fields = [  # noqa: RUF012 - asn1crypto's declaration style
        ("x", core.Integer),
        ("y", core.Integer),
        ("hash", core.OctetString),
        ("cipher_text", core.OctetString),
    ]


@dataclass(frozen=True)
class Sm2Ciphertext:
    """One SM2 ciphertext, C1 = (x, y), C3 = SM3(x2 ‖ M ‖ y2), C2 = M XOR KDF, in any of its forms."""

    x: bytes  # 32 bytes each, big-endian
    y: bytes
    hash: bytes
    cipher: bytes

    def __post_init__(self) -> None:
        if len(self.x) != SIZE or len(self.y) != SIZE or len(self.hash) != SIZE or not self.cipher:
            raise InvalidInput("an SM2 ciphertext has a 64-byte C1, a 32-byte C3 and a non-empty C2")

    @classmethod
    def from_der(cls, der: bytes) -> Sm2Ciphertext:
        """From the GM/T 0009 DER SEQUENCE {x, y, hash, cipherText}."""
        try:
            parsed = _Sm2Cipher.load(der, strict=True)
            x, y = int(parsed["x"].native), int(parsed["y"].native)
            digest, cipher = bytes(parsed["hash"].native), bytes(parsed["cipher_text"].native)
        except (ValueError, TypeError):
            raise InvalidInput("not a DER SM2 ciphertext (GM/T 0009 SM2Cipher)") from None
        if not (0 <= x < P and 0 <= y < P):
            raise InvalidInput("the SM2 ciphertext's C1 is outside the field")
        return cls(x.to_bytes(SIZE, "big"), y.to_bytes(SIZE, "big"), digest, cipher)

    def to_der(self) -> bytes:
        value = {
            "x": int.from_bytes(self.x, "big"),
            "y": int.from_bytes(self.y, "big"),
            "hash": self.hash,
            "cipher_text": self.cipher,
        }
        return bytes(_Sm2Cipher(value).dump())

    @classmethod
    def from_c1c3c2(cls, raw: bytes, *, prefixed: bool = True) -> Sm2Ciphertext:
        """From 04 ‖ x ‖ y ‖ C3 ‖ C2 (the 2012 order); ``prefixed=False`` when the 04 is left out.

        The caller says which: a leading 04 cannot be told from an x that starts with 04.
        """
        if prefixed and raw[:1] != b"\x04":
            raise InvalidInput("an SM2 C1C3C2 ciphertext starts with 04 (uncompressed C1)")
        body = raw[1:] if prefixed else raw
        if len(body) <= 3 * SIZE:
            raise InvalidInput("an SM2 C1C3C2 ciphertext is longer than 97 bytes")
        return cls(body[:SIZE], body[SIZE:2 * SIZE], body[2 * SIZE:3 * SIZE], body[3 * SIZE:])

    def to_c1c3c2(self) -> bytes:
        return b"\x04" + self.x + self.y + self.hash + self.cipher
