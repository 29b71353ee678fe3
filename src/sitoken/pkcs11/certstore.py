"""X.509 certificate objects on a PKCS#11 token: store, list, find, delete."""

from __future__ import annotations

from typing import Any

import pkcs11
from asn1crypto import core, x509
from pkcs11 import Attribute, CertificateType, ObjectClass
from pkcs11.attributes import AttributeMapper, handle_ulong

from ..errors import InvalidInput
from ..token import StoredCertificate
from .errors import ck_call

# CKA_CERTIFICATE_CATEGORY values (PKCS#11 v2.20 §10.6).
CATEGORY_TOKEN_USER = 1
CATEGORY_AUTHORITY = 2


def attribute_mapper() -> AttributeMapper:
    """python-pkcs11's mapper plus the CK_ULONG attributes it does not know."""
    mapper = AttributeMapper()
    mapper.register_handler(Attribute.CERTIFICATE_CATEGORY, *handle_ulong)
    return mapper


def certificate_template(der: bytes, *, label: str, key_id: bytes, authority: bool) -> dict[Attribute, Any]:
    """The attributes PKCS#11 wants for an X.509 certificate (subject, issuer and serial as DER)."""
    try:
        cert = x509.Certificate.load(der)
        tbs = cert["tbs_certificate"]
        subject, issuer = tbs["subject"].dump(), tbs["issuer"].dump()
        serial = core.Integer(tbs["serial_number"].native).dump()
    except (ValueError, TypeError, KeyError):
        raise InvalidInput("not a DER X.509 certificate") from None
    return {
        Attribute.CLASS: ObjectClass.CERTIFICATE,
        Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
        Attribute.TOKEN: True,
        Attribute.PRIVATE: False,
        Attribute.LABEL: label,
        Attribute.ID: key_id,
        Attribute.SUBJECT: subject,
        Attribute.ISSUER: issuer,
        Attribute.SERIAL_NUMBER: serial,
        Attribute.VALUE: der,
        Attribute.CERTIFICATE_CATEGORY: CATEGORY_AUTHORITY if authority else CATEGORY_TOKEN_USER,
    }


def store(session: pkcs11.Session, der: bytes, *, label: str, key_id: bytes, authority: bool) -> None:
    template = certificate_template(der, label=label, key_id=key_id, authority=authority)
    with ck_call("C_CreateObject"):
        session.create_object(template)


def find(session: pkcs11.Session, *, label: str | None = None, key_id: bytes | None = None) -> list[pkcs11.Object]:
    attrs: dict[Attribute, Any] = {Attribute.CLASS: ObjectClass.CERTIFICATE}
    if label is not None:
        attrs[Attribute.LABEL] = label
    if key_id is not None:
        attrs[Attribute.ID] = key_id
    with ck_call("C_FindObjects"):
        return list(session.get_objects(attrs))


def describe(obj: pkcs11.Object) -> StoredCertificate:
    with ck_call("C_GetAttributeValue"):
        try:
            category = obj[Attribute.CERTIFICATE_CATEGORY]
        except (pkcs11.AttributeTypeInvalid, pkcs11.AttributeSensitive):
            category = 0
        return StoredCertificate(
            label=obj[Attribute.LABEL] or "",
            id=(obj[Attribute.ID] or b"").hex(),
            der=bytes(obj[Attribute.VALUE]),
            authority=category == CATEGORY_AUTHORITY,
        )


def destroy(objects: list[pkcs11.Object]) -> None:
    with ck_call("C_DestroyObject"):
        for obj in objects:
            obj.destroy()
