"""How each sitoken Mechanism and KeyType runs on PKCS#11: the CKM/CKK numbers and parameters.

The facts about the algorithms (hashes, DigestInfo, encodings) come from ``sitoken.algorithms``;
this module only adds the PKCS#11 numbers of the specification. Vendor-defined numbers come
from the module's profile (``sitoken.pkcs11.profiles``), which can override any row.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..algorithms import HASHES, KEYS, SCHEMES, KeyType, Mechanism, from_token, host_input, to_token
from .constants import CKG, CKK, CKM
from .session import MechanismSpec

#: Per hash: the digest mechanism and the MGF1 PSS names with it.
_PSS_HASH: dict[str, tuple[int, int]] = {
    "sha256": (CKM.SHA256, CKG.MGF1_SHA256),
    "sha384": (CKM.SHA384, CKG.MGF1_SHA384),
    "sha512": (CKM.SHA512, CKG.MGF1_SHA512),
}
#: The raw mechanism per (family, padding or host input): the host always hashes.
_RAW_CKM: dict[tuple[str, str | None], int] = {
    ("rsa", "pkcs1v15"): CKM.RSA_PKCS,
    ("rsa", "pss"): CKM.RSA_PKCS_PSS,
    ("ec", None): CKM.ECDSA,
    ("eddsa", None): CKM.EDDSA,
}
#: Key-pair generation per family: (CKA_KEY_TYPE, generation mechanism).
_KEYGEN: dict[str, tuple[int, int]] = {
    "rsa": (CKK.RSA, CKM.RSA_PKCS_KEY_PAIR_GEN),
    "ec": (CKK.EC, CKM.EC_KEY_PAIR_GEN),
    "eddsa": (CKK.EC_EDWARDS, CKM.EC_EDWARDS_KEY_PAIR_GEN),
}


@dataclass(frozen=True)
class CkMechanism:
    """A sitoken Mechanism as the token sees it.

    The hash is computed on the host wherever the scheme allows (DigestInfo for RSA PKCS#1
    v1.5, the bare hash for PSS and ECDSA): every token offers the raw mechanisms, and a
    large document never travels to the token.
    """

    mechanism: Mechanism
    spec: MechanismSpec

    @property
    def ckm(self) -> int:
        return self.spec.ckm

    def prepare(self, data: bytes, *, prehashed: bool = False) -> bytes:
        """What the token signs for ``data``."""
        return host_input(self.mechanism, data, prehashed=prehashed)

    def finish(self, raw: bytes) -> bytes:
        """The token's output as sitoken returns it (ECDSA as DER)."""
        return from_token(self.mechanism, raw)

    def token_signature(self, signature: bytes, key_type: KeyType | None) -> bytes:
        """A DER ECDSA signature back to the r||s the token verifies."""
        return to_token(self.mechanism, signature, key_type)


@dataclass(frozen=True)
class CkKeyGen:
    """How a key type is generated: CKA_KEY_TYPE, the mechanism, the modulus bits if RSA."""

    ckk: int
    mechanism: int
    bits: int | None


def _spec(mechanism: Mechanism) -> MechanismSpec:
    facts = SCHEMES[mechanism]
    ckm = _RAW_CKM[(facts.family, facts.padding if facts.family == "rsa" else None)]
    if facts.padding == "pss" and facts.hash_name is not None:
        hash_ckm, mgf = _PSS_HASH[facts.hash_name]
        return MechanismSpec(ckm, (hash_ckm, mgf, HASHES[facts.hash_name].size))
    return MechanismSpec(ckm)


CK_MECHANISMS: dict[Mechanism, CkMechanism] = {
    m: CkMechanism(m, _spec(m)) for m in SCHEMES if SCHEMES[m].family in {f for f, _ in _RAW_CKM}
}
KEYGEN: dict[KeyType, CkKeyGen] = {
    k: CkKeyGen(*_KEYGEN[f.family], f.bits) for k, f in KEYS.items() if f.family in _KEYGEN
}
