"""A key pair from outside (a PKCS#12 file) written to a PKCS#11 token as two objects (C_CreateObject)."""

from __future__ import annotations

from typing import Any

from .. import pubkey
from ..algorithms import KeyType
from ..errors import InvalidInput
from .constants import CKA, CKK, CKO
from .keys import PRIVATE_TEMPLATE, PUBLIC_TEMPLATE
from .session import Session

# RSA CRT components (PKCS#11 2.40, section 2.1.3); raw big-endian bytes like every unlisted attribute.
CKA_PRIME_1, CKA_PRIME_2, CKA_EXPONENT_1, CKA_EXPONENT_2, CKA_COEFFICIENT = 0x124, 0x125, 0x126, 0x127, 0x128


def _int(value: int) -> bytes:
    return value.to_bytes(max((value.bit_length() + 7) // 8, 1), "big")


def _components(pkcs8_der: bytes) -> tuple[KeyType, dict[int, Any], dict[int, Any]]:
    """(key type, private attributes, public attributes) of a PKCS#8 private key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    key = serialization.load_der_private_key(pkcs8_der, None)
    if isinstance(key, rsa.RSAPrivateKey):
        n = key.private_numbers()
        public: dict[int, Any] = {CKA.KEY_TYPE: CKK.RSA, CKA.MODULUS: _int(n.public_numbers.n),
                  CKA.PUBLIC_EXPONENT: _int(n.public_numbers.e)}
        private: dict[int, Any] = {**public, CKA.PRIVATE_EXPONENT: _int(n.d), CKA_PRIME_1: _int(n.p),
                   CKA_PRIME_2: _int(n.q), CKA_EXPONENT_1: _int(n.dmp1),
                   CKA_EXPONENT_2: _int(n.dmq1), CKA_COEFFICIENT: _int(n.iqmp)}
        kind = {2048: KeyType.RSA2048, 3072: KeyType.RSA3072}.get(key.key_size)
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        kind = {"secp256r1": KeyType.EC_P256, "secp384r1": KeyType.EC_P384}.get(key.curve.name)
        if kind is None:
            raise InvalidInput(f"the key's curve {key.curve.name} is not one sitoken uses (P-256, P-384)")
        params = pubkey.ec_params_der(kind)
        point = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        # CKA_EC_POINT is the DER OCTET STRING of the point (PKCS#11 2.40, section 2.3.3).
        public = {CKA.KEY_TYPE: CKK.EC, CKA.EC_PARAMS: params,
                  CKA.EC_POINT: bytes([0x04, len(point)]) + point}
        size = (key.curve.key_size + 7) // 8
        private = {CKA.KEY_TYPE: CKK.EC, CKA.EC_PARAMS: params,
                   CKA.VALUE: _int(key.private_numbers().private_value).rjust(size, b"\0")}
    else:
        raise InvalidInput(f"the key type {type(key).__name__} cannot be imported (RSA or EC P-256/P-384)")
    if kind is None:
        raise InvalidInput("the RSA key size is not one sitoken uses (2048 or 3072 bits)")
    return kind, private, public


def import_key_pair(session: Session, pkcs8_der: bytes, label: str, key_id: bytes) -> KeyType:
    """Write the private key (sensitive, never extractable) and its public key; returns the key type."""
    kind, private, public = _components(pkcs8_der)
    common: dict[int, Any] = {CKA.LABEL: label, CKA.ID: key_id}
    handle = session.create({**private, **PRIVATE_TEMPLATE, **common, CKA.CLASS: CKO.PRIVATE_KEY})
    try:
        session.create({**public, **PUBLIC_TEMPLATE, **common, CKA.CLASS: CKO.PUBLIC_KEY})
    except Exception:
        session.destroy(handle)  # never half a key pair
        raise
    return kind
