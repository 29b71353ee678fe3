"""CMS SignedData (RFC 5652) made through a KeySigner, and its verification to a trust anchor."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import ClassVar

from asn1crypto import cms, core, tsp
from asn1crypto import x509 as a509

from ..certs.keys import (
    KeySigner,
    choose_mechanism,
    mechanism_of,
    sign_checked,
    signature_algorithm,
    verify_any,
)
from ..certs.names import format_name
from ..certs.parse import MAX_CHAIN, ParsedCertificate, parse_certificate, public_key_matches, reloaded
from ..certs.path import validate_path
from ..errors import InvalidInput, KeyNotFound, SignatureInvalid
from ..sm2 import DEFAULT_ID, SM2_SIGN_OID, SM3_OID, sm3
from ..token import Mechanism
from . import gmt0010 as gmt

_DIGESTS = ("sha256", "sha384", "sha512", "sm3")
# asn1crypto names no SM3: its DigestAlgorithm carries, and reads back, the dotted OID.
_DIGEST_OIDS = {"sm3": SM3_OID}
_DIGEST_NAMES = {oid: name for name, oid in _DIGEST_OIDS.items()}

# The signed attributes sitoken checks, by OID, with the type of their single value.
_CHECKED_ATTRIBUTES: dict[str, tuple[str, type[core.Asn1Value]]] = {
    "1.2.840.113549.1.9.3": ("content_type", cms.ContentType),
    "1.2.840.113549.1.9.4": ("message_digest", core.OctetString),
    "1.2.840.113549.1.9.5": ("signing_time", cms.Time),
    "1.2.840.113549.1.9.16.2.47": ("signing_certificate_v2", tsp.SigningCertificateV2),
}


@dataclass(frozen=True)
class SignedAttribute:
    """A signed attribute sitoken does not interpret: its OID and its DER, as signed."""

    oid: str
    der: bytes


@dataclass(frozen=True)
class CmsVerification:
    """A CMS signature that verified: who signed, when, and the path to the trust anchor."""

    signer_subject: str
    signer_certificate: bytes
    signing_time: datetime | None  # as the signer claims it; not a trusted timestamp
    checked_at: datetime  # the moment the certificates were checked for validity
    mechanism: Mechanism
    path: tuple[bytes, ...]  # signer certificate first, trust anchor last
    certificates: tuple[bytes, ...]  # every certificate the CMS carried
    detached: bool
    content: bytes
    # Signed by the signer, but not checked by sitoken (NSS adds S/MIME preferences, for example).
    other_attributes: tuple[SignedAttribute, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "valid": True,
            "signer": self.signer_subject,
            "signing_time": self.signing_time.isoformat() if self.signing_time else None,
            "checked_at": self.checked_at.isoformat(),
            "mechanism": self.mechanism.value,
            "path": [format_name(parse_certificate(d).subject_der) for d in self.path],
            "certificates": len(self.certificates),
            "detached": self.detached,
            "content_length": len(self.content),
            "other_attributes": [a.oid for a in self.other_attributes],
        }


# ---------------------------------------------------------------------------- signing


def _digest_name(mechanism: Mechanism) -> str:
    # RFC 8419: with signed attributes, Ed25519 signers digest the content with SHA-512.
    return mechanism.hash_name or "sha512"


def _digest_algorithm(name: str) -> dict[str, str]:
    return {"algorithm": _DIGEST_OIDS.get(name, name)}


def _digest(name: str, data: bytes) -> bytes:
    return sm3(data) if name == "sm3" else hashlib.new(name, data).digest()


# The structures below take certificates, names and attribute values loaded afresh from their
# DER: such an asn1crypto value is written back as the bytes it came from, where a built or
# fully parsed one (ParsedCertificate.asn1) is copied and re-encoded field by field (a CMS
# signature with a three-certificate chain took 16 ms of CPU that way, 2 ms now).


def _issuer(cert: ParsedCertificate) -> a509.Name:
    return a509.Name.load(cert.issuer_der)


def _signing_certificate_v2(cert: ParsedCertificate) -> dict[str, object]:
    return {"certs": [{
        "cert_hash": hashlib.sha256(cert.der).digest(),
        "issuer_serial": {
            "issuer": [a509.GeneralName(name="directory_name", value=_issuer(cert))],
            "serial_number": cert.serial_number,
        },
    }]}


def _signed_attributes(cert: ParsedCertificate, digest: bytes,
                       signing_time: datetime, content_type: str) -> cms.CMSAttributes:
    return cms.CMSAttributes([
        {"type": "content_type", "values": [content_type]},
        {"type": "signing_time", "values": [_cms_time(signing_time)]},
        {"type": "message_digest", "values": [digest]},
        {"type": "signing_certificate_v2",
         "values": [reloaded(tsp.SigningCertificateV2(_signing_certificate_v2(cert)))]},
    ])



def _cms_time(moment: datetime) -> cms.Time:
    moment = moment.astimezone(timezone.utc).replace(microsecond=0)
    # RFC 5652 §11.3: UTCTime for 1950-2049, GeneralizedTime otherwise.
    if 1950 <= moment.year < 2050:
        return cms.Time(name="utc_time", value=moment)
    return cms.Time(name="generalized_time", value=moment)


def sign_cms(
    signer: KeySigner,
    certificate_der: bytes,
    data: bytes,
    *,
    chain: Sequence[bytes] = (),
    detached: bool = True,
    mechanism: Mechanism | None = None,
    signing_time: datetime | None = None,
    gmt0010: bool = False,
) -> bytes:
    """A DER CMS SignedData over ``data`` by the key behind ``certificate_der``.

    Signed attributes: content-type, message-digest, signing-time and
    signing-certificate-v2 (RFC 5035). The certificate and ``chain`` travel
    in the CMS so a verifier needs only its trust anchor. An SM2 key signs
    SM2-with-SM3 over the attributes with the signer's SM2 ID; the content
    digest is SM3 (RFC 5652 structure with the GM/T 0006 identifiers).
    ``gmt0010`` (SM2 only) writes GM/T 0010's content types (1.2.156.10197.6.1.4.2.x)
    and signature identifier SM2-1 instead of PKCS#7's and SM2-with-SM3.
    """
    mechanism = choose_mechanism(signer.key_type, mechanism)
    if gmt0010 and mechanism.family != "sm2":
        raise InvalidInput("GM/T 0010 identifiers are for SM2 signatures, not " + mechanism.value)
    data_type, signed_type = (gmt.DATA, gmt.SIGNED_DATA) if gmt0010 else ("data", "signed_data")
    cert = parse_certificate(certificate_der)
    if not public_key_matches(cert.der, signer.public_key_der()):
        raise KeyNotFound("the certificate is not for this signing key")
    extra = [parse_certificate(der) for der in chain if der != cert.der]
    digest_name = _digest_name(mechanism)
    attributes = _signed_attributes(
        cert, _digest(digest_name, data),
        signing_time or datetime.now(timezone.utc), data_type,
    )
    # The signature covers the attributes encoded as a SET OF (tag 0x31), not as the [0] field.
    signature = sign_checked(signer, attributes.dump(), mechanism)
    signer_info = cms.SignerInfo({
        "version": "v1",
        "sid": cms.SignerIdentifier(name="issuer_and_serial_number", value={
            "issuer": _issuer(cert), "serial_number": cert.serial_number}),
        "digest_algorithm": _digest_algorithm(digest_name),
        "signed_attrs": attributes,
        "signature_algorithm": {"algorithm": SM2_SIGN_OID} if gmt0010 else signature_algorithm(mechanism),
        "signature": signature,
    })
    signed_data = cms.SignedData({
        "version": "v1",
        "digest_algorithms": [_digest_algorithm(digest_name)],
        "encap_content_info": {"content_type": data_type, "content": None if detached else data},
        "certificates": [cms.CertificateChoices(name="certificate", value=a509.Certificate.load(c.der))
                         for c in [cert, *extra]],
        "signer_infos": [signer_info],
    })
    return bytes(cms.ContentInfo({"content_type": signed_type, "content": signed_data}).dump())


# ---------------------------------------------------------------------------- verification


def _load_signed_data(cms_der: bytes) -> cms.SignedData:
    if not cms_der:
        raise InvalidInput("the signature is empty")
    signed, _ = gmt.load_content(cms_der, gmt.SIGNED_DATA_TYPES, "signed data", _parse_eagerly)
    return signed


def _parse_eagerly(signed: cms.SignedData) -> None:
    """Parse every field now (asn1crypto is lazy), except attribute values.

    Signed attributes are read by OID in :func:`_read_attributes`: asn1crypto
    rejects values it has a wrong idea of (NSS's 1.3.6.1.4.1.311.16.4), and an
    attribute sitoken does not check is no reason to refuse a signature. Unsigned
    attributes are never read.
    """
    for name in ("version", "digest_algorithms", "encap_content_info", "certificates", "crls"):
        signed[name].native  # noqa: B018
    for signer_info in signed["signer_infos"]:
        for name in ("version", "sid", "digest_algorithm", "signature_algorithm", "signature"):
            signer_info[name].native  # noqa: B018
        _read_attributes(signer_info)


def _content(signed: cms.SignedData, data: bytes | None) -> tuple[bytes, bool]:
    embedded = signed["encap_content_info"]["content"].native
    if signed["encap_content_info"]["content_type"].native not in gmt.DATA_TYPES:
        raise SignatureInvalid("the signed content is not of type data")
    if embedded is None and data is None:
        raise InvalidInput("the signature is detached: give the signed data too")
    if embedded is not None and data is not None and embedded != data:
        raise SignatureInvalid("the given data differs from the data inside the signature")
    if embedded is None:
        assert data is not None
        return data, True
    return bytes(embedded), False


def _signer_certificate(signer_info: cms.SignerInfo,
                        certs: Sequence[ParsedCertificate]) -> ParsedCertificate:
    sid = signer_info["sid"]
    for cert in certs:
        tbs = cert.asn1["tbs_certificate"]
        if sid.name == "issuer_and_serial_number":
            wanted = sid.chosen
            if (wanted["issuer"].dump() == cert.issuer_der
                    and wanted["serial_number"].native == tbs["serial_number"].native):
                return cert
        elif cert.asn1.key_identifier == sid.chosen.native:
            return cert
    raise SignatureInvalid("the signer's certificate is not inside the signature")


class _AnyValues(core.SetOf):  # type: ignore[misc]
    _child_spec = core.Any


class _AnyAttribute(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar = [("type", core.ObjectIdentifier), ("values", _AnyValues)]


class _AnyAttributes(core.SetOf):  # type: ignore[misc]
    _child_spec = _AnyAttribute


@dataclass(frozen=True)
class _Attributes:
    """Signed attributes: the checked ones parsed by name, the others kept as bytes."""

    checked: dict[str, core.Asn1Value]
    others: tuple[SignedAttribute, ...]


def _read_attributes(signer_info: cms.SignerInfo) -> _Attributes | None:
    if not signer_info["signed_attrs"]:
        return None
    parsed = _AnyAttributes.load(_attributes_der(signer_info))
    checked: dict[str, core.Asn1Value] = {}
    others = []
    for attribute in parsed:
        oid, values = attribute["type"].dotted, attribute["values"]
        if oid not in _CHECKED_ATTRIBUTES:
            others.append(SignedAttribute(oid, bytes(attribute.dump())))
            continue
        name, spec = _CHECKED_ATTRIBUTES[oid]
        if name in checked or len(values) != 1:
            raise SignatureInvalid(f"signed attribute {name} appears more than once")
        checked[name] = spec.load(values[0].dump(), strict=True)
        checked[name].native  # noqa: B018 - malformed values fail here, not later
    return _Attributes(checked, tuple(others))


def _check_attributes(attrs: _Attributes, digest: bytes, cert: ParsedCertificate,
                      encapsulated: str) -> datetime | None:
    content_type = attrs.checked.get("content_type")
    # RFC 5652 §11.1: the attribute names the encapsulated content's type (data, PKCS#7's or GM/T 0010's).
    if content_type is None or content_type.native != encapsulated:
        raise SignatureInvalid("the content-type attribute is missing or not the content's type")
    message_digest = attrs.checked.get("message_digest")
    if message_digest is None or message_digest.native != digest:
        raise SignatureInvalid("the data does not match the signature's message digest")
    ess = attrs.checked.get("signing_certificate_v2")
    if ess is not None:
        first = ess["certs"][0]
        algorithm = first["hash_algorithm"]["algorithm"].native
        if algorithm not in _DIGESTS or hashlib.new(algorithm, cert.der).digest() != \
                first["cert_hash"].native:
            raise SignatureInvalid("the signing-certificate attribute names another certificate")
    when = attrs.checked.get("signing_time")
    return when.native.astimezone(timezone.utc) if when is not None else None


def _attributes_der(signer_info: cms.SignerInfo) -> bytes:
    # The signer signed the attributes as a SET OF: same bytes, universal tag 0x31 for [0].
    return b"\x31" + bytes(signer_info["signed_attrs"].dump())[1:]


def _signed_bytes(signer_info: cms.SignerInfo, content: bytes) -> bytes:
    return _attributes_der(signer_info) if signer_info["signed_attrs"] else content


def _verify_signer(signer_info: cms.SignerInfo, cert: ParsedCertificate, content: bytes,
                   digest_name: str, sm2_id: bytes) -> Mechanism:
    mechanism = mechanism_of(signer_info["signature_algorithm"], digest_name)
    try:
        verify_any(cert.spki_der, signer_info["signature"].native, _signed_bytes(signer_info, content),
                   mechanism, sm2_id)
    except InvalidInput:
        raise SignatureInvalid("the signer's key type is not supported") from None
    return mechanism


def verify_cms(
    cms_der: bytes,
    data: bytes | None = None,
    *,
    trust: Sequence[bytes],
    at: datetime | None = None,
    sm2_id: bytes | None = None,
) -> CmsVerification:
    """Check a CMS SignedData with one signer; raise SignatureInvalid saying why it fails.

    ``data`` is needed for a detached signature. The signer's certificate must
    chain to one of ``trust`` (DER certificates) and be valid at ``at``, which
    defaults to the claimed signing time, else now. Malformed input raises
    InvalidInput. Revocation is not checked. ``sm2_id`` is an SM2 signer's ID (default GM/T 0009's).
    """
    signed = _load_signed_data(cms_der)
    if len(signed["signer_infos"]) != 1:
        raise SignatureInvalid(f"the signature has {len(signed['signer_infos'])} signers; "
                               "sitoken verifies exactly one")
    signer_info = signed["signer_infos"][0]
    content, detached = _content(signed, data)
    choices = [c for c in (signed["certificates"] or []) if c.name == "certificate"]
    certs = [parse_certificate(c.chosen.dump()) for c in choices[: MAX_CHAIN * 4]]
    cert = _signer_certificate(signer_info, certs)
    digest_name = signer_info["digest_algorithm"]["algorithm"].native
    digest_name = _DIGEST_NAMES.get(digest_name, digest_name)
    if digest_name not in _DIGESTS:
        raise SignatureInvalid(f"digest algorithm {digest_name} is not supported")
    signing_time, attributes = None, _read_attributes(signer_info)
    if attributes is not None:
        signing_time = _check_attributes(attributes, _digest(digest_name, content), cert,
                                         signed["encap_content_info"]["content_type"].native)
    mechanism = _verify_signer(signer_info, cert, content, digest_name, sm2_id or DEFAULT_ID)
    checked_at = (at or signing_time or datetime.now(timezone.utc)).astimezone(timezone.utc)
    path = validate_path(cert, [c for c in certs if c is not cert], trust, checked_at)
    return CmsVerification(
        signer_subject=format_name(cert.subject_der),
        signer_certificate=cert.der,
        signing_time=signing_time,
        checked_at=checked_at,
        mechanism=mechanism,
        path=tuple(c.der for c in path),
        certificates=tuple(c.der for c in certs),
        detached=detached,
        content=content,
        other_attributes=attributes.others if attributes else (),
    )
