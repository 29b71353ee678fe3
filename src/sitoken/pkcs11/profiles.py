"""Vendor mechanism profiles: what a module adds to, or cannot do of, the specification.

A profile is data. It names vendor-defined key types and mechanisms (CKK/CKM numbers above
``CKK_VENDOR_DEFINED``/``CKM_VENDOR_DEFINED``, such as SM2/SM3 on Chinese USB-Keys), and the
mechanisms a module cannot carry (p11-kit's RPC). A module gets the profile whose
``manufacturers`` contain its CK_INFO manufacturerID or whose ``libraries`` contain its file
name, or the one named by ``SITOKEN_PKCS11_PROFILE``; else the specification alone. How to add
one: docs/pkcs11.md, "Vendor profiles".
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..algorithms import KeyType, Mechanism
from ..errors import InvalidInput, MechanismUnsupported
from .constants import CKM
from .mechanisms import CK_MECHANISMS, KEYGEN, CkKeyGen, CkMechanism
from .sm2_vendors import SM2_VENDORS

#: Names a profile for every module sitoken loads, whatever the module says it is.
PROFILE_ENV = "SITOKEN_PKCS11_PROFILE"


@dataclass(frozen=True)
class VendorProfile:
    """Vendor numbers and limits of one family of modules."""

    name: str
    manufacturers: tuple[str, ...] = ()  # CK_INFO.manufacturerID values that select it
    libraries: tuple[str, ...] = ()  # module file names that select it
    key_types: dict[KeyType, CkKeyGen] = field(default_factory=dict)
    mechanisms: dict[Mechanism, CkMechanism] = field(default_factory=dict)
    #: CKM numbers the module refuses to carry, with the reason sitoken gives.
    cannot_carry: dict[int, str] = field(default_factory=dict)

    def mechanism(self, mechanism: Mechanism) -> CkMechanism:
        """The mechanism on this module; refused before any call if the module cannot carry it."""
        found = self.mechanisms.get(mechanism) or CK_MECHANISMS.get(mechanism)
        if found is None:
            raise MechanismUnsupported(f"no PKCS#11 mechanism for {mechanism.value} in profile {self.name!r}")
        reason = self.cannot_carry.get(found.ckm)
        if reason is not None:
            raise MechanismUnsupported(f"{mechanism.value} cannot be used through this module: {reason}")
        return found

    def keygen(self, key_type: KeyType, *, refuse: bool = False) -> CkKeyGen | None:
        """How to generate ``key_type`` here; None if the module cannot carry its mechanism.

        ``refuse``: raise MechanismUnsupported with the reason instead, before any call.
        """
        found = self.key_types.get(key_type) or KEYGEN.get(key_type)
        reason = self.cannot_carry.get(found.mechanism) if found else None
        if reason is not None and refuse:
            raise MechanismUnsupported(f"{key_type.value} keys cannot be generated through this module: {reason}")
        return None if reason is not None else found

    def carries(self, ckm: int) -> bool:
        return ckm not in self.cannot_carry


SPEC = VendorProfile("pkcs11")

_P11KIT_RPC = (
    "p11-kit's RPC (p11-kit-client.so, p11-kit-proxy.so, p11-kit remote) does not carry it"
)
PROFILES: tuple[VendorProfile, ...] = (
    VendorProfile(
        "p11-kit",
        manufacturers=("PKCS#11 Kit",),
        libraries=("p11-kit-client.so", "p11-kit-proxy.so"),
        cannot_carry={
            CKM.EDDSA: _P11KIT_RPC,
            CKM.EC_EDWARDS_KEY_PAIR_GEN: _P11KIT_RPC,
            CKM.SHA256_RSA_PKCS_PSS: _P11KIT_RPC,
            CKM.SHA384_RSA_PKCS_PSS: _P11KIT_RPC,
        },
    ),
    # SM2/SM3 on Chinese modules: each vendor's numbers (sm2_vendors.py), selected like any profile.
    *(VendorProfile(v.name, v.manufacturers, v.libraries, key_types=v.key_types(), mechanisms=v.mechanisms())
      for v in SM2_VENDORS),
)


def profile_named(name: str) -> VendorProfile:
    for profile in (SPEC, *PROFILES):
        if profile.name == name:
            return profile
    known = ", ".join(p.name for p in (SPEC, *PROFILES))
    raise InvalidInput(f"no PKCS#11 vendor profile named {name!r} (known: {known})")


def profile_for(manufacturer: str, library_path: str) -> VendorProfile:
    """The profile of a module: configuration first, then manufacturer ID, then file name."""
    configured = os.environ.get(PROFILE_ENV)
    if configured:
        return profile_named(configured)
    library = Path(library_path).name
    for profile in PROFILES:
        if manufacturer in profile.manufacturers or library in profile.libraries:
            return profile
    return SPEC
