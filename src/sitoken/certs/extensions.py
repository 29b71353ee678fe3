"""X.509 extensions for requests and certificates, built as asn1crypto values from plain inputs."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from asn1crypto import core, keys, x509

from ..errors import InvalidInput

KEY_USAGES = (
    "digital_signature", "non_repudiation", "key_encipherment", "data_encipherment",
    "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only",
)
# RFC 5280 camelCase names, and X.509's newer name for nonRepudiation.
_KEY_USAGE_ALIASES = {"contentcommitment": "non_repudiation"}
EXTENDED_KEY_USAGES = {
    "server_auth": "1.3.6.1.5.5.7.3.1",
    "client_auth": "1.3.6.1.5.5.7.3.2",
    "code_signing": "1.3.6.1.5.5.7.3.3",
    "email_protection": "1.3.6.1.5.5.7.3.4",
    "time_stamping": "1.3.6.1.5.5.7.3.8",
    "ocsp_signing": "1.3.6.1.5.5.7.3.9",
}
# The signing certificate of a token key: DOMAIN.md §5.6.
DEFAULT_KEY_USAGE = ("digital_signature", "non_repudiation")

_DNS_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[!-~]+")


@dataclass(frozen=True)
class CustomExtension:
    """An extension given as its OID and the DER of its value (e.g. an identity-number OID)."""

    oid: str
    value_der: bytes
    critical: bool = False


def text_extension(oid: str, text: str, *, critical: bool = False) -> CustomExtension:
    """An extension whose value is one UTF8String, as identity-number extensions are built."""
    return CustomExtension(oid, core.UTF8String(text).dump(), critical)


def _normal(name: str) -> str:
    return name.strip().replace("-", "").replace("_", "").lower()


def key_usage_names(names: Iterable[str]) -> list[str]:
    """asn1crypto key usage names for user spellings (digitalSignature, digital-signature...)."""
    table = {_normal(n): n for n in KEY_USAGES} | _KEY_USAGE_ALIASES
    out = []
    for name in names:
        if _normal(name) not in table:
            raise InvalidInput(f"unknown key usage {name!r}; known: {', '.join(KEY_USAGES)}")
        out.append(table[_normal(name)])
    return out


def eku_oids(names: Iterable[str]) -> list[str]:
    """Dotted OIDs for extended key usage names (client_auth...) or dotted OIDs."""
    table = {_normal(k): v for k, v in EXTENDED_KEY_USAGES.items()}
    out = []
    for name in names:
        if re.fullmatch(r"[0-9]+(\.[0-9]+)+", name.strip()):
            out.append(name.strip())
        elif _normal(name) in table:
            out.append(table[_normal(name)])
        else:
            raise InvalidInput(
                f"unknown extended key usage {name!r}; known: {', '.join(EXTENDED_KEY_USAGES)}"
            )
    return out


def _dns_name(value: str) -> str:
    try:
        # Chinese domain names go into certificates in their xn-- (punycode) form.
        ascii_name = value.encode("idna").decode("ascii") if not value.isascii() else value
    except UnicodeError:
        raise InvalidInput(f"DNS name {value!r} cannot be converted to IDNA") from None
    labels = ascii_name.split(".")
    if labels and labels[0] == "*":
        labels = labels[1:]
    if not labels or not all(_DNS_LABEL.fullmatch(label) for label in labels):
        raise InvalidInput(f"{value!r} is not a DNS name")
    return ascii_name


def general_name(entry: str) -> x509.GeneralName:
    """One subjectAltName entry written as ``email:``, ``dns:`` or ``uri:`` plus the value."""
    kind, sep, value = entry.partition(":")
    kind = kind.strip().lower()
    if not sep or not value:
        raise InvalidInput(
            f"subject alt name {entry!r} must look like email:..., dns:... or uri:..."
        )
    if kind == "email":
        local, at, domain = value.rpartition("@")
        if not at or not local or not value.isascii() or any(c in value for c in " <>"):
            raise InvalidInput(f"{value!r} is not an ASCII e-mail address")
        return x509.GeneralName(name="rfc822_name", value=f"{local}@{_dns_name(domain)}")
    if kind == "dns":
        return x509.GeneralName(name="dns_name", value=_dns_name(value))
    if kind == "uri":
        if not _URI.fullmatch(value):
            raise InvalidInput(f"{value!r} is not an ASCII URI with a scheme")
        return x509.GeneralName(name="uniform_resource_identifier", value=value)
    raise InvalidInput(f"subject alt name type {kind!r} is not supported (email, dns, uri)")


def subject_alt_name(entries: Sequence[str]) -> x509.Extension:
    return x509.Extension({
        "extn_id": "subject_alt_name", "critical": False,
        "extn_value": x509.GeneralNames([general_name(e) for e in entries]),
    })


def key_usage(names: Sequence[str]) -> x509.Extension:
    return x509.Extension({
        "extn_id": "key_usage", "critical": True,
        "extn_value": x509.KeyUsage(set(key_usage_names(names))),
    })


def extended_key_usage(names: Sequence[str]) -> x509.Extension:
    return x509.Extension({
        "extn_id": "extended_key_usage", "critical": False,
        "extn_value": x509.ExtKeyUsageSyntax(eku_oids(names)),
    })


def basic_constraints(*, ca: bool, path_length: int | None = None) -> x509.Extension:
    value: dict[str, object] = {"ca": ca}
    if path_length is not None:
        value["path_len_constraint"] = path_length
    return x509.Extension({
        "extn_id": "basic_constraints", "critical": True,
        "extn_value": x509.BasicConstraints(value),
    })


def key_identifier(spki_der: bytes) -> bytes:
    """RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits (an id, not security)."""
    spki = keys.PublicKeyInfo.load(spki_der)
    bits = spki["public_key"].contents[1:]  # drop the unused-bits octet
    return hashlib.sha1(bits).digest()


def subject_key_identifier(spki_der: bytes) -> x509.Extension:
    return x509.Extension({
        "extn_id": "key_identifier", "critical": False,
        "extn_value": core.OctetString(key_identifier(spki_der)),
    })


def authority_key_identifier(key_id: bytes) -> x509.Extension:
    return x509.Extension({
        "extn_id": "authority_key_identifier", "critical": False,
        "extn_value": x509.AuthorityKeyIdentifier({"key_identifier": key_id}),
    })


def custom(ext: CustomExtension) -> x509.Extension:
    try:
        core.load(ext.value_der, strict=True).native  # noqa: B018 - validate before embedding
    except Exception as exc:  # asn1crypto raises assorted built-in errors on bad DER
        raise InvalidInput(f"extension {ext.oid}: value is not one DER element ({exc})") from None
    return x509.Extension({
        "extn_id": ext.oid, "critical": ext.critical,
        "extn_value": core.ParsableOctetString(ext.value_der),
    })


def request_extensions(
    *, san: Sequence[str], key_usage_names_: Sequence[str], eku: Sequence[str],
    extra: Sequence[CustomExtension], head: Sequence[x509.Extension] = (),
) -> x509.Extensions:
    """The extension list of a request or certificate; duplicates are refused (RFC 5280)."""
    items = list(head)
    if san:
        items.append(subject_alt_name(san))
    if key_usage_names_:
        items.append(key_usage(key_usage_names_))
    if eku:
        items.append(extended_key_usage(eku))
    items.extend(custom(e) for e in extra)
    oids = [e["extn_id"].dotted for e in items]
    duplicates = sorted({o for o in oids if oids.count(o) > 1})
    if duplicates:
        raise InvalidInput(f"extension given twice: {', '.join(duplicates)}")
    return x509.Extensions(items)
