"""Who holds a certificate: name, ID number or credit code, read per the CA's certificate profiles."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from asn1crypto import core

from ..certs.names import decode_name, format_name
from ..certs.parse import ParsedCertificate, parse_certificate
from ..provisioning.profiles import CertProfile, ProfileSet, load_profiles

# The template each identity field is filled from (provisioning.profiles.TEMPLATE_FIELDS).
_NUMBER_FIELDS = {"personal": "id_number", "organisation": "credit_code"}


@dataclass(frozen=True)
class Identity:
    """The holder a verified certificate names; ``to_dict`` fields are stable for JSON."""

    kind: str  # "personal", "organisation", or "unknown" when no profile fits
    name: str
    id_number: str | None
    credit_code: str | None
    profile: str | None
    subject: str
    serial: str  # certificate serial, lower-case hex
    issuer: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def identity_from_certificate(cert: bytes | ParsedCertificate, profiles: ProfileSet | None = None) -> Identity:
    """The holder named by ``cert``, read with the first of ``profiles`` whose fixed subject parts it has.

    A profile fits when every subject attribute it fills with fixed text (``OU=Individual-1``)
    is in the certificate; the name and number are then read where that profile writes them:
    its identity extension first, else its subject attribute. The packaged profiles by default.
    """
    parsed = cert if isinstance(cert, ParsedCertificate) else parse_certificate(cert)
    attributes = _attributes(parsed)
    for profile in (profiles or load_profiles()).profiles.values():
        if _fits(profile, attributes):
            return _identity(parsed, attributes, profile)
    common = attributes.get("CN", [""])[0]
    return Identity("unknown", common, None, None, None, *_names(parsed))


def _attributes(cert: ParsedCertificate) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for rdn in decode_name(cert.subject_der):
        for attr in rdn:
            if attr.value is not None:
                out.setdefault(attr.keyword, []).append(attr.value)
    return out


def _fits(profile: CertProfile, attributes: dict[str, list[str]]) -> bool:
    fixed = [(k, t) for k, t in profile.subject if "{" not in t]
    return bool(fixed) and all(text in attributes.get(keyword, []) for keyword, text in fixed)


def _identity(cert: ParsedCertificate, attributes: dict[str, list[str]], profile: CertProfile) -> Identity:
    number_field = _NUMBER_FIELDS.get(profile.kind, "id_number")
    number = _from_extension(cert, profile, number_field) or _from_subject(attributes, profile, number_field)
    name = _from_subject(attributes, profile, "name") or ""
    return Identity(profile.kind, name,
                    number if number_field == "id_number" else None,
                    number if number_field == "credit_code" else None,
                    profile.name, *_names(cert))


def _from_subject(attributes: dict[str, list[str]], profile: CertProfile, field: str) -> str | None:
    for keyword, template in profile.subject:
        if template.strip() == "{" + field + "}" and attributes.get(keyword):
            return attributes[keyword][0]
    return None


def _from_extension(cert: ParsedCertificate, profile: CertProfile, field: str) -> str | None:
    oids = {e.oid for e in profile.extensions if e.value.strip() == "{" + field + "}"}
    for extension in cert.asn1["tbs_certificate"]["extensions"]:
        if extension["extn_id"].dotted in oids:
            try:
                value = core.Asn1Value.load(extension["extn_value"].contents).native
            except ValueError:
                return None
            return value if isinstance(value, str) else None
    return None


def _names(cert: ParsedCertificate) -> tuple[str, str, str]:
    return (format_name(cert.subject_der), f"{cert.crypto.serial_number:x}", format_name(cert.issuer_der))
