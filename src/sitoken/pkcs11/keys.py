"""Key objects on a PKCS#11 token: templates, lookup, description, public key export."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import pubkey
from ..algorithms import KeyType, key_type_for_rsa_bits
from ..errors import KeyNotFound
from ..token import KeyInfo
from .attributes import Template
from .constants import CKA, CKK, CKO
from .mechanisms import CkKeyGen
from .session import MechanismSpec, Session
from .sm2_vendors import SM2_KEY_TYPES

KEY_CLASSES = (CKO.PRIVATE_KEY, CKO.PUBLIC_KEY)
RSA_PUBLIC_EXPONENT = b"\x01\x00\x01"  # 65537

# Private keys stay on the token: sensitive, never extractable, usable only to sign.
PRIVATE_TEMPLATE: Template = {
    CKA.TOKEN: True,
    CKA.PRIVATE: True,
    CKA.SENSITIVE: True,
    CKA.EXTRACTABLE: False,
    CKA.SIGN: True,
}
PUBLIC_TEMPLATE: Template = {CKA.TOKEN: True, CKA.PRIVATE: False, CKA.VERIFY: True}
#: What describing a key object reads, in one C_GetAttributeValue.
_DESCRIBE = (CKA.ID, CKA.LABEL, CKA.KEY_TYPE, CKA.MODULUS_BITS, CKA.MODULUS, CKA.EC_PARAMS)


@dataclass(frozen=True)
class KeyObject:
    """A key object: its handle and class, and the attributes read to describe it."""

    handle: int
    object_class: int
    attrs: dict[int, Any]

    @property
    def key_id(self) -> bytes:
        return bytes(self.attrs.get(CKA.ID) or b"")

    @property
    def label(self) -> str:
        return str(self.attrs.get(CKA.LABEL) or "")

    @property
    def is_private(self) -> bool:
        return self.object_class == CKO.PRIVATE_KEY


def generate(session: Session, key_type: KeyType, keygen: CkKeyGen, label: str, key_id: bytes) -> None:
    common: dict[int, Any] = {CKA.KEY_TYPE: keygen.ckk, CKA.LABEL: label, CKA.ID: key_id}
    public: dict[int, Any] = {CKA.CLASS: CKO.PUBLIC_KEY, **common, **PUBLIC_TEMPLATE}
    private: dict[int, Any] = {CKA.CLASS: CKO.PRIVATE_KEY, **common, **PRIVATE_TEMPLATE}
    if keygen.bits is not None:
        public[CKA.MODULUS_BITS] = keygen.bits
        public[CKA.PUBLIC_EXPONENT] = RSA_PUBLIC_EXPONENT
    else:
        public[CKA.EC_PARAMS] = pubkey.ec_params_der(key_type)
    session.generate_key_pair(MechanismSpec(keygen.mechanism), public, private)


def select_objects(session: Session, *, label: str | None = None, key_id: bytes | None = None) -> list[KeyObject]:
    """Private and public key objects, optionally filtered by label or CKA_ID."""
    found: list[KeyObject] = []
    for object_class in KEY_CLASSES:
        template: dict[int, Any] = {CKA.CLASS: object_class}
        if label is not None:
            template[CKA.LABEL] = label
        if key_id is not None:
            template[CKA.ID] = key_id
        for handle in session.find(template):
            found.append(KeyObject(handle, object_class, session.attributes(handle, _DESCRIBE)))
    return found


def key_type_of(obj: KeyObject) -> KeyType | None:
    kind, attrs = obj.attrs.get(CKA.KEY_TYPE), obj.attrs
    if kind == CKK.RSA:
        bits = attrs.get(CKA.MODULUS_BITS)
        if bits is None and attrs.get(CKA.MODULUS):
            bits = len(attrs[CKA.MODULUS]) * 8
        return key_type_for_rsa_bits(bits)
    if kind in (CKK.EC, CKK.EC_EDWARDS):
        params = attrs.get(CKA.EC_PARAMS)
        return pubkey.key_type_from_ec_params(params) if params else None
    return KeyType.SM2 if kind in SM2_KEY_TYPES else None


def describe_keys(objects: list[KeyObject]) -> list[KeyInfo]:
    """One KeyInfo per (CKA_ID, label) pair, halves merged."""
    grouped: dict[tuple[bytes, str], dict[str, Any]] = {}
    for obj in objects:
        entry = grouped.setdefault((obj.key_id, obj.label), {"private": False, "public": False, "type": None})
        entry["private" if obj.is_private else "public"] = True
        entry["type"] = entry["type"] or key_type_of(obj)
    return [
        KeyInfo(label=label, id=key_id.hex(), key_type=e["type"], has_private=e["private"],
                has_public=e["public"])
        for (key_id, label), e in sorted(grouped.items(), key=lambda kv: (kv[0][1], kv[0][0]))
    ]


def public_key_der(session: Session, objects: list[KeyObject]) -> bytes:
    """SPKI of a key, from its public object (or an RSA private object's public parts)."""
    for obj in sorted(objects, key=lambda o: o.is_private):
        if obj.attrs.get(CKA.KEY_TYPE) == CKK.RSA:
            parts = session.attributes(obj.handle, [CKA.MODULUS, CKA.PUBLIC_EXPONENT])
            if parts[CKA.MODULUS] and parts[CKA.PUBLIC_EXPONENT]:
                return pubkey.rsa_spki(parts[CKA.MODULUS], parts[CKA.PUBLIC_EXPONENT])
            continue
        point = session.attribute(obj.handle, CKA.EC_POINT)
        if point is not None and obj.attrs.get(CKA.EC_PARAMS):
            return pubkey.ec_spki(obj.attrs[CKA.EC_PARAMS], point)
    raise KeyNotFound("the token holds no public key material for this key")
