"""SM2/SM3/SM4 on the host: Z and e, SPKI, signatures with an ID, encryption (OpenSSL 3 libcrypto)."""

from __future__ import annotations

from . import sm4
from .encoding import (
    DEFAULT_ID,
    GMT0010_DATA_OID,
    GMT0010_ENVELOPED_DATA_OID,
    GMT0010_SIGNED_DATA_OID,
    SM2_CURVE_OID,
    SM2_ENCRYPT_OID,
    SM2_SIGN_OID,
    SM2_WITH_SM3_OID,
    SM3_OID,
    SM4_CBC_OID,
    Sm2Ciphertext,
    check_point,
    e_value,
    is_sm2_spki,
    point_from_spki,
    point_from_xy,
    sm3,
    spki_from_point,
    z_value,
)
from .keys import Sm2PrivateKey, Sm2PublicKey

__all__ = [
    "DEFAULT_ID",
    "GMT0010_DATA_OID",
    "GMT0010_ENVELOPED_DATA_OID",
    "GMT0010_SIGNED_DATA_OID",
    "SM2_CURVE_OID",
    "SM2_ENCRYPT_OID",
    "SM2_SIGN_OID",
    "SM2_WITH_SM3_OID",
    "SM3_OID",
    "SM4_CBC_OID",
    "Sm2Ciphertext",
    "Sm2PrivateKey",
    "Sm2PublicKey",
    "check_point",
    "e_value",
    "is_sm2_spki",
    "point_from_spki",
    "point_from_xy",
    "sm3",
    "sm4",
    "spki_from_point",
    "z_value",
]
