"""X.509 certificate objects on a PKCS#11 token: store, list, find, delete."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidInput
from ..token import StoredCertificate
from .attributes import Template
from .constants import CATEGORY_AUTHORITY, CATEGORY_TOKEN_USER, CKA, CKC, CKO
from .session import Session

_DESCRIBE = (CKA.LABEL, CKA.ID, CKA.VALUE, CKA.CERTIFICATE_CATEGORY)


def certificate_template(der: bytes, *, label: str, key_id: bytes, authority: bool) -> Template:
    """The attributes PKCS#11 wants for an X.509 certificate (subject, issuer and serial as DER)."""
    # Here, not at the top: opening a token or signing with it does not parse certificates.
    from asn1crypto import core, x509

    try:
        cert = x509.Certificate.load(der)
        tbs = cert["tbs_certificate"]
        subject, issuer = tbs["subject"].dump(), tbs["issuer"].dump()
        serial = core.Integer(tbs["serial_number"].native).dump()
    except (ValueError, TypeError, KeyError):
        raise InvalidInput("not a DER X.509 certificate") from None
    return {
        CKA.CLASS: CKO.CERTIFICATE,
        CKA.CERTIFICATE_TYPE: CKC.X_509,
        CKA.TOKEN: True,
        CKA.PRIVATE: False,
        CKA.LABEL: label,
        CKA.ID: key_id,
        CKA.SUBJECT: subject,
        CKA.ISSUER: issuer,
        CKA.SERIAL_NUMBER: serial,
        CKA.VALUE: der,
        CKA.CERTIFICATE_CATEGORY: CATEGORY_AUTHORITY if authority else CATEGORY_TOKEN_USER,
    }


def store(session: Session, der: bytes, *, label: str, key_id: bytes, authority: bool) -> None:
    session.create(certificate_template(der, label=label, key_id=key_id, authority=authority))


def find(session: Session, *, label: str | None = None, key_id: bytes | None = None) -> list[int]:
    template: dict[int, Any] = {CKA.CLASS: CKO.CERTIFICATE}
    if label is not None:
        template[CKA.LABEL] = label
    if key_id is not None:
        template[CKA.ID] = key_id
    return session.find(template)


def describe(session: Session, handle: int) -> StoredCertificate:
    attrs = session.attributes(handle, _DESCRIBE)
    return StoredCertificate(
        label=attrs[CKA.LABEL] or "",
        id=(attrs[CKA.ID] or b"").hex(),
        der=bytes(attrs[CKA.VALUE] or b""),
        authority=attrs[CKA.CERTIFICATE_CATEGORY] == CATEGORY_AUTHORITY,
    )


def destroy(session: Session, handles: list[int]) -> None:
    for handle in handles:
        session.destroy(handle)
