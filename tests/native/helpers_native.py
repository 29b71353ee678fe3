"""Shared by the native tests: the test-bed rule for the extension, PINs, host verification."""

from __future__ import annotations

import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.serialization import load_der_public_key

from bed_support import require, softhsm_key_types
from sitoken._native_loader import native_status
from sitoken.token import Mechanism

SO_PIN = "so-pin-1357"
USER_PIN = "batch7pin4"

#: Key label on the test token = the KeyType value.
KEY_TYPES = softhsm_key_types()


def require_native() -> None:
    """The extension must be built: a skip locally, a failure under CI=true."""
    status = native_status()
    require(status.active, f"the native extension (built by pip install): {status.reason}")

_HASHES = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384()}


def verifies(public_der: bytes, mechanism: Mechanism, message: bytes, signature: bytes,
             *, prehashed: bool = False) -> bool:
    """Whether ``signature`` over ``message`` verifies with the public key, on the host."""
    key = load_der_public_key(public_der)
    algorithm = _HASHES.get(mechanism.hash_name or "")
    if prehashed and algorithm is not None:
        digest, algorithm = message, Prehashed(algorithm)
    else:
        digest = message
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, message)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, digest, ec.ECDSA(algorithm))
        elif isinstance(key, rsa.RSAPublicKey):
            pad = (
                padding.PSS(padding.MGF1(_HASHES[mechanism.hash_name or ""]),
                            hashlib.new(mechanism.hash_name or "").digest_size)
                if mechanism.value.startswith("rsa-pss")
                else padding.PKCS1v15()
            )
            key.verify(signature, digest, pad, algorithm)
        else:
            raise TypeError(f"unexpected key {key!r}")
    except InvalidSignature:
        return False
    return True
