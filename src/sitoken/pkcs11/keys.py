"""Key objects on a PKCS#11 token: templates, lookup, description, public key export."""

from __future__ import annotations

from typing import Any

import pkcs11
from pkcs11 import Attribute, MechanismFlag, ObjectClass

from .. import pubkey
from ..errors import KeyNotFound
from ..token import KeyInfo, KeyType
from .errors import ck_call
from .mechanisms import KEYGEN

_KEY_CLASSES = (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY)

# Private keys stay on the token: sensitive, never extractable, usable only to sign.
PRIVATE_TEMPLATE = {
    Attribute.TOKEN: True,
    Attribute.PRIVATE: True,
    Attribute.SENSITIVE: True,
    Attribute.EXTRACTABLE: False,
}
PUBLIC_TEMPLATE = {Attribute.TOKEN: True, Attribute.PRIVATE: False}


def generate(session: pkcs11.Session, key_type: KeyType, label: str, key_id: bytes) -> None:
    p11_type, bits, mechanism = KEYGEN[key_type]
    options: dict[str, Any] = dict(
        id=key_id,
        label=label,
        store=True,
        capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY,
        mechanism=mechanism,
        public_template=PUBLIC_TEMPLATE,
        private_template=PRIVATE_TEMPLATE,
    )
    with ck_call("C_GenerateKeyPair"):
        if bits is not None:
            session.generate_keypair(p11_type, bits, **options)
            return
        params = session.create_domain_parameters(
            p11_type, {Attribute.EC_PARAMS: pubkey.ec_params_der(key_type)}, local=True
        )
        params.generate_keypair(**options)


def select_objects(
    session: pkcs11.Session, *, label: str | None = None, key_id: bytes | None = None
) -> list[pkcs11.Object]:
    """Private and public key objects, optionally filtered by label or CKA_ID."""
    found: list[pkcs11.Object] = []
    for object_class in _KEY_CLASSES:
        attrs: dict[Attribute, Any] = {Attribute.CLASS: object_class}
        if label is not None:
            attrs[Attribute.LABEL] = label
        if key_id is not None:
            attrs[Attribute.ID] = key_id
        with ck_call("C_FindObjects"):
            found.extend(session.get_objects(attrs))
    return found


def _attr(obj: pkcs11.Object, attribute: Attribute) -> Any:
    try:
        return obj[attribute]
    except (pkcs11.AttributeTypeInvalid, pkcs11.AttributeSensitive):
        return None


def key_type_of(obj: pkcs11.Object) -> KeyType | None:
    kind = _attr(obj, Attribute.KEY_TYPE)
    if kind == pkcs11.KeyType.RSA:
        bits = _attr(obj, Attribute.MODULUS_BITS)
        if bits is None:
            modulus = _attr(obj, Attribute.MODULUS)
            bits = len(modulus) * 8 if modulus else None
        return {2048: KeyType.RSA2048, 3072: KeyType.RSA3072}.get(bits or 0)
    if kind in (pkcs11.KeyType.EC, pkcs11.KeyType.EC_EDWARDS):
        params = _attr(obj, Attribute.EC_PARAMS)
        return pubkey.key_type_from_ec_params(params) if params else None
    return None


def describe_keys(objects: list[pkcs11.Object]) -> list[KeyInfo]:
    """One KeyInfo per (CKA_ID, label) pair, halves merged."""
    grouped: dict[tuple[bytes, str], dict[str, Any]] = {}
    for obj in objects:
        with ck_call("C_GetAttributeValue"):
            key = (_attr(obj, Attribute.ID) or b"", _attr(obj, Attribute.LABEL) or "")
            entry = grouped.setdefault(key, {"private": False, "public": False, "type": None})
            entry["private" if obj.object_class == ObjectClass.PRIVATE_KEY else "public"] = True
            entry["type"] = entry["type"] or key_type_of(obj)
    return [
        KeyInfo(label=label, id=key_id.hex(), key_type=e["type"], has_private=e["private"],
                has_public=e["public"])
        for (key_id, label), e in sorted(grouped.items(), key=lambda kv: (kv[0][1], kv[0][0]))
    ]


def public_key_der(objects: list[pkcs11.Object]) -> bytes:
    """SPKI of a key, from its public object (or an RSA private object's public parts)."""
    ordered = sorted(objects, key=lambda o: o.object_class != ObjectClass.PUBLIC_KEY)
    with ck_call("C_GetAttributeValue"):
        for obj in ordered:
            kind = _attr(obj, Attribute.KEY_TYPE)
            if kind == pkcs11.KeyType.RSA:
                return pubkey.rsa_spki(obj[Attribute.MODULUS], obj[Attribute.PUBLIC_EXPONENT])
            point = _attr(obj, Attribute.EC_POINT)
            if point is not None:
                return pubkey.ec_spki(obj[Attribute.EC_PARAMS], point)
    raise KeyNotFound("the token holds no public key material for this key")
