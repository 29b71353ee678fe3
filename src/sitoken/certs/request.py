"""PKCS#10 requests and self-signed certificates, signed through a KeySigner (token or software)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

from asn1crypto import csr, keys, x509

from ..errors import InvalidInput
from ..token import Mechanism
from . import extensions as ext
from .keys import KeySigner, choose_mechanism, sign_checked, signature_algorithm
from .names import name_der
from .parse import reloaded

# RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050 on.
_UTC_TIME_LIMIT = datetime(2050, 1, 1, tzinfo=timezone.utc)


def _subject(subject: str) -> x509.Name:
    der = name_der(subject)
    if der == b"\x30\x00":
        raise InvalidInput("the subject distinguished name is empty")
    return x509.Name.load(der)


def _public_key_info(signer: KeySigner) -> keys.PublicKeyInfo:
    der = signer.public_key_der()
    keys.PublicKeyInfo.load(der).native  # noqa: B018 - a driver handing back a broken SPKI fails here, not in a CA
    return keys.PublicKeyInfo.load(der)  # unparsed, it goes into the request as its bytes


def build_csr(
    signer: KeySigner,
    subject: str,
    *,
    mechanism: Mechanism | None = None,
    san: Sequence[str] = (),
    key_usage: Sequence[str] = ext.DEFAULT_KEY_USAGE,
    extended_key_usage: Sequence[str] = (),
    extra_extensions: Sequence[ext.CustomExtension] = (),
) -> bytes:
    """A DER PKCS#10 request for the signer's key.

    ``subject`` is RFC 4514 text (``CN=张三,OU=Individual-1,O=某社保中心,C=CN``);
    ``san`` entries are ``email:``, ``dns:`` or ``uri:`` strings. The requested
    extensions go into an extensionRequest attribute; an empty ``key_usage``
    leaves key usage out.
    """
    mechanism = choose_mechanism(signer.key_type, mechanism)
    extensions = ext.request_extensions(
        san=san, key_usage_names_=key_usage, eku=extended_key_usage, extra=extra_extensions
    )
    attributes = []
    if len(extensions):
        attributes.append({"type": "extension_request", "values": [reloaded(extensions)]})
    info = csr.CertificationRequestInfo({
        "version": "v1",
        "subject": _subject(subject),
        "subject_pk_info": _public_key_info(signer),
        "attributes": attributes,
    })
    info_der = bytes(info.dump())
    signature = sign_checked(signer, info_der, mechanism)
    return bytes(csr.CertificationRequest({
        "certification_request_info": csr.CertificationRequestInfo.load(info_der),
        "signature_algorithm": signature_algorithm(mechanism),
        "signature": signature,
    }).dump())


def x509_time(moment: datetime) -> x509.Time:
    moment = moment.astimezone(timezone.utc).replace(microsecond=0)
    if moment < _UTC_TIME_LIMIT:
        return x509.Time(name="utc_time", value=moment)
    return x509.Time(name="general_time", value=moment)


def random_serial() -> int:
    """A positive serial of at most 20 octets with 159 random bits (RFC 5280 §4.1.2.2)."""
    return secrets.randbelow(2**159 - 1) + 1


def build_self_signed(
    signer: KeySigner,
    subject: str,
    days: int,
    *,
    mechanism: Mechanism | None = None,
    san: Sequence[str] = (),
    key_usage: Sequence[str] = ext.DEFAULT_KEY_USAGE,
    extended_key_usage: Sequence[str] = (),
    extra_extensions: Sequence[ext.CustomExtension] = (),
    not_before: datetime | None = None,
    serial: int | None = None,
) -> bytes:
    """A DER self-signed end-entity certificate for the signer's key, valid ``days`` days.

    The certificate is not a CA (basicConstraints cA=false), so relying
    parties can pin it but cannot chain anything to it.
    """
    if days < 1:
        raise InvalidInput("a certificate must be valid for at least one day")
    mechanism = choose_mechanism(signer.key_type, mechanism)
    start = (not_before or datetime.now(timezone.utc)).astimezone(timezone.utc)
    spki = _public_key_info(signer)
    key_id = ext.key_identifier(spki.dump())
    name = _subject(subject)
    head = [ext.basic_constraints(ca=False), ext.subject_key_identifier(spki.dump()),
            ext.authority_key_identifier(key_id)]
    tbs = x509.TbsCertificate({
        "version": "v3",
        "serial_number": serial if serial is not None else random_serial(),
        "signature": signature_algorithm(mechanism),
        "issuer": name,
        "validity": {"not_before": x509_time(start),
                     "not_after": x509_time(start + timedelta(days=days))},
        "subject": name,
        "subject_public_key_info": spki,
        "extensions": ext.request_extensions(
            san=san, key_usage_names_=key_usage, eku=extended_key_usage,
            extra=extra_extensions, head=head,
        ),
    })
    signature = sign_checked(signer, tbs.dump(), mechanism)
    return bytes(x509.Certificate({
        "tbs_certificate": tbs,
        "signature_algorithm": signature_algorithm(mechanism),
        "signature_value": signature,
    }).dump())
