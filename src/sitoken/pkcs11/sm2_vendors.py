"""SM2/SM3 on PKCS#11 modules as vendor profiles: vendor-defined numbers, as data (DOMAIN.md 8.3).

OASIS defines no SM2 constants (oasis-tcs/pkcs11 #119), so each vendor numbers its own. A row
names the SM2 key type (CKK), its key-pair generation mechanism, and the SM2-with-SM3 signing
mechanism that computes Z (with GM/T 0009's default ID) and e inside the token, so the message
itself goes to the token; and whether that mechanism returns r||s or DER. The numbers come from
PKI software's vendor profiles and vendor headers; no open-source token signs SM2 to check them
against, and the module matches are the vendors' usual names: ``SITOKEN_PKCS11_PROFILE=NAME``
selects a row whatever a module reports.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..algorithms import SM2_DEFAULT_ID, KeyType, Mechanism
from .mechanisms import CkKeyGen, CkMechanism
from .session import MechanismSpec


@dataclass(frozen=True)
class DerSm2Mechanism(CkMechanism):
    """An SM2 mechanism whose token already returns DER SEQUENCE {r, s} (X9.62 style)."""

    def finish(self, raw: bytes) -> bytes:
        return raw

    def token_signature(self, signature: bytes, key_type: KeyType | None) -> bytes:
        return signature


@dataclass(frozen=True)
class Sm2Numbers:
    """One vendor's SM2 numbers."""

    name: str
    manufacturers: tuple[str, ...]
    libraries: tuple[str, ...]
    ckk: int  # CKA_KEY_TYPE of SM2 keys
    keygen: int  # SM2 key-pair generation
    sign: int  # SM2 with SM3, Z and e computed in the token
    der_output: bool = False  # the signing mechanism returns DER instead of r||s

    def key_types(self) -> dict[KeyType, CkKeyGen]:
        return {KeyType.SM2: CkKeyGen(self.ckk, self.keygen, None)}

    def mechanisms(self) -> dict[Mechanism, CkMechanism]:
        kind = DerSm2Mechanism if self.der_output else CkMechanism
        return {Mechanism.SM2_SM3: kind(Mechanism.SM2_SM3, MechanismSpec(self.sign))}


SM2_VENDORS: tuple[Sm2Numbers, ...] = (
    # TASS: SM2_SIGNATURE_X962 behaviour, i.e. DER signatures.
    Sm2Numbers("tass", ("TASS",), ("libtass_pkcs11.so", "libtasspkcs11.so"),
               ckk=0x80000004, keygen=0x80008001, sign=0x80008100, der_output=True),
    # SANSEC: CKM_SM3_SM2_Z (0x80008102) applies Z with the default ID and returns r||s.
    Sm2Numbers("sansec", ("SANSEC", "Sansec"), ("libupkcs11.so", "upkcs11.so"),
               ckk=0x80000004, keygen=0x80008001, sign=0x80008102),
    # Thales Luna: CKM_SM3_SM2DSA.
    Sm2Numbers("luna", ("SafeNet", "Thales", "SafeNet, Inc."), ("libCryptoki2_64.so", "libCryptoki2.so"),
               ckk=0x80000016, keygen=0x80000B20, sign=0x80000B22),
    # IBM EP11 (opencryptoki): CKM_IBM_SM2_SM3.
    Sm2Numbers("ibm-ep11", ("IBM",), ("libep11tok.so", "PKCS11_EP11.so"),
               ckk=0x80050002, keygen=0x8005000A, sign=0x8005000C),
)

#: The signer ID the vendors' token-side Z binds: their mechanisms take no ID parameter.
SM2_TOKEN_ID = SM2_DEFAULT_ID

#: Every vendor CKK that means an SM2 key, for reading key objects back.
SM2_KEY_TYPES = frozenset(v.ckk for v in SM2_VENDORS)
