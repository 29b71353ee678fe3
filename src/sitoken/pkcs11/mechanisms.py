"""How each sitoken Mechanism runs on PKCS#11: the CKM, its parameters, host hashing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pkcs11
from pkcs11 import MGF

from .. import pubkey
from ..token import KeyType, Mechanism


@dataclass(frozen=True)
class CkMechanism:
    """A sitoken Mechanism as the token sees it.

    The hash is computed on the host wherever the scheme allows (DigestInfo for
    RSA PKCS#1 v1.5, the bare hash for PSS and ECDSA): every token offers the
    raw mechanisms, and a large document never travels to the token.
    """

    mechanism: Mechanism
    ckm: pkcs11.Mechanism
    param: Any = None

    def prepare(self, data: bytes) -> bytes:
        """What the token signs for ``data``."""
        if self.mechanism is Mechanism.EDDSA:
            return data
        hashed = pubkey.digest(self.mechanism, data)
        if self.ckm is pkcs11.Mechanism.RSA_PKCS:
            return pubkey.digest_info(self.mechanism, hashed)
        return hashed

    def finish(self, raw: bytes) -> bytes:
        """The token's output as sitoken returns it (ECDSA as DER)."""
        return pubkey.ecdsa_raw_to_der(raw) if self.ckm is pkcs11.Mechanism.ECDSA else raw

    def token_signature(self, signature: bytes, key_type: KeyType | None) -> bytes:
        """A DER ECDSA signature back to the r||s the token verifies."""
        if self.ckm is pkcs11.Mechanism.ECDSA and key_type is not None:
            return pubkey.ecdsa_der_to_raw(signature, pubkey.curve_size(key_type))
        return signature


def _pss(hash_mech: pkcs11.Mechanism, mgf: MGF, salt: int) -> tuple[pkcs11.Mechanism, MGF, int]:
    return (hash_mech, mgf, salt)


CK_MECHANISMS: dict[Mechanism, CkMechanism] = {
    Mechanism.RSA_PKCS_SHA256: CkMechanism(Mechanism.RSA_PKCS_SHA256, pkcs11.Mechanism.RSA_PKCS),
    Mechanism.RSA_PKCS_SHA384: CkMechanism(Mechanism.RSA_PKCS_SHA384, pkcs11.Mechanism.RSA_PKCS),
    Mechanism.RSA_PSS_SHA256: CkMechanism(
        Mechanism.RSA_PSS_SHA256, pkcs11.Mechanism.RSA_PKCS_PSS,
        _pss(pkcs11.Mechanism.SHA256, MGF.SHA256, 32),
    ),
    Mechanism.RSA_PSS_SHA384: CkMechanism(
        Mechanism.RSA_PSS_SHA384, pkcs11.Mechanism.RSA_PKCS_PSS,
        _pss(pkcs11.Mechanism.SHA384, MGF.SHA384, 48),
    ),
    Mechanism.ECDSA_SHA256: CkMechanism(Mechanism.ECDSA_SHA256, pkcs11.Mechanism.ECDSA),
    Mechanism.ECDSA_SHA384: CkMechanism(Mechanism.ECDSA_SHA384, pkcs11.Mechanism.ECDSA),
    Mechanism.EDDSA: CkMechanism(Mechanism.EDDSA, pkcs11.Mechanism.EDDSA),
}

#: Key-pair generation: (python-pkcs11 key type, bits or None, generation mechanism).
KEYGEN: dict[KeyType, tuple[pkcs11.KeyType, int | None, pkcs11.Mechanism]] = {
    KeyType.RSA2048: (pkcs11.KeyType.RSA, 2048, pkcs11.Mechanism.RSA_PKCS_KEY_PAIR_GEN),
    KeyType.RSA3072: (pkcs11.KeyType.RSA, 3072, pkcs11.Mechanism.RSA_PKCS_KEY_PAIR_GEN),
    KeyType.EC_P256: (pkcs11.KeyType.EC, None, pkcs11.Mechanism.EC_KEY_PAIR_GEN),
    KeyType.EC_P384: (pkcs11.KeyType.EC, None, pkcs11.Mechanism.EC_KEY_PAIR_GEN),
    KeyType.ED25519: (pkcs11.KeyType.EC_EDWARDS, None, pkcs11.Mechanism.EC_EDWARDS_KEY_PAIR_GEN),
}
