"""Certificates from outside: DER, PEM, PEM bundles and PKCS#7 bundles; chain order; key match."""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from asn1crypto import cms, core, keys
from asn1crypto import x509 as a509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from ..algorithms import Mechanism
from ..errors import InvalidInput
from ..pubkey import verify_host
from ..sm2 import SM2_WITH_SM3_OID, is_sm2_spki
from .sniff import expected

_PEM_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END ([A-Z0-9 ]+)-----", re.DOTALL
)
_PEM_CERT_LABELS = {b"CERTIFICATE", b"X509 CERTIFICATE"}
_PEM_PKCS7_LABELS = {b"PKCS7", b"CMS"}
_BASE64_TEXT = re.compile(rb"[A-Za-z0-9+/=\s]+")
MAX_CHAIN = 10  # deeper than any real hierarchy; bounds every walk below
# Parsed certificates kept by DER: a batch's CA chain and the holders in flight, bounded so
# memory stays flat however many holders a batch has.
PARSED_KEPT = 64


@dataclass(frozen=True, eq=False)  # identity: chain walks ask "is this one already used"
class ParsedCertificate:
    """One certificate parsed twice: asn1crypto for structure, cryptography for crypto."""

    der: bytes
    asn1: a509.Certificate
    crypto: x509.Certificate
    # Encoded once per parse: dumping a part of a fully parsed asn1crypto tree walks all of
    # it, and chain ordering and key matching ask for these many times per enrolment.
    parts: _Parts

    @property
    def subject_der(self) -> bytes:
        return self.parts.subject

    @property
    def issuer_der(self) -> bytes:
        return self.parts.issuer

    @property
    def spki_der(self) -> bytes:
        return self.parts.spki

    @property
    def serial_number(self) -> int:
        return int(self.crypto.serial_number)

    @property
    def is_ca(self) -> bool:
        value = self.asn1.basic_constraints_value
        return bool(value is not None and value["ca"].native)

    @property
    def self_issued(self) -> bool:
        return self.subject_der == self.issuer_der


def parse_certificate(der: bytes) -> ParsedCertificate:
    """Parse one DER certificate completely, or raise InvalidInput.

    The parse is kept by its DER: an enrolment looks at the same three certificates
    dozens of times (chain order, key match, status, install, round trip), and a full
    parse builds two object trees. Each call still gets its own ``ParsedCertificate``
    (chain walks tell certificates apart by identity); the trees inside are shared and
    only read.
    """
    if not der:
        raise InvalidInput("certificate is empty")
    asn1, crypto, parts = _parsed(bytes(der))
    return ParsedCertificate(der, asn1, crypto, parts)


@dataclass(frozen=True)
class _Parts:
    """The DER of a certificate's subject, issuer and public key."""

    subject: bytes
    issuer: bytes
    spki: bytes


@functools.lru_cache(maxsize=PARSED_KEPT)
def _parsed(der: bytes) -> tuple[a509.Certificate, x509.Certificate, _Parts]:
    # Bad input raises, and lru_cache keeps no exception: a bad DER is parsed (and refused) each time.
    try:
        asn1 = a509.Certificate.load(der, strict=True)
        asn1.native  # noqa: B018 - asn1crypto parses lazily; force every field now
        crypto = x509.load_der_x509_certificate(der)
        crypto.extensions  # noqa: B018 - also lazy, and may be malformed
    except Exception:  # both parsers raise assorted built-in errors on bad input: say what it is instead
        raise expected("a certificate", der) from None
    tbs = asn1["tbs_certificate"]
    parts = _Parts(*(bytes(tbs[name].dump()) for name in ("subject", "issuer", "subject_public_key_info")))
    return asn1, crypto, parts


_Value = TypeVar("_Value", bound=core.Asn1Value)


def reloaded(value: _Value) -> _Value:
    """``value`` read back from its own DER, to go into a larger structure.

    asn1crypto copies and re-encodes a built (or fully parsed) value field by field each time
    it becomes part of another one and each time that one is dumped; a value loaded from DER
    goes in as its bytes (3 ms against 0.03 ms for a signing-certificate-v2 attribute).
    """
    again: _Value = type(value).load(value.dump())
    return again


def _pkcs7_certificates(der: bytes) -> list[bytes]:
    try:
        info = cms.ContentInfo.load(der, strict=True)
        if info["content_type"].native != "signed_data":
            raise InvalidInput("PKCS#7 data holds no certificates (not SignedData)")
        choices = info["content"]["certificates"]
        found = [c.chosen.dump() for c in choices if c.name == "certificate"] if choices else []
    except InvalidInput:
        raise
    except Exception:  # asn1crypto raises assorted built-in errors on bad input
        raise expected("CMS/PKCS#7 data", der) from None
    if not found:
        raise InvalidInput("PKCS#7 bundle holds no certificates")
    return found


def _from_der(der: bytes) -> list[bytes]:
    try:
        outer = core.load(der, strict=True)
        first = outer.contents[:1] if outer.contents else b""
    except Exception:  # asn1crypto raises assorted built-in errors on bad input
        raise expected("a certificate", der) from None
    if first == b"\x06":  # ContentInfo starts with an OID; a Certificate with a SEQUENCE
        return _pkcs7_certificates(der)
    return [der]


def _decode_base64(body: bytes, what: str) -> bytes:
    try:
        return base64.b64decode(b"".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{what}: the base64 text is damaged") from None


def _from_pem(data: bytes) -> list[bytes]:
    found: list[bytes] = []
    for match in _PEM_BLOCK.finditer(data):
        begin, body, end = match.groups()
        if begin != end:
            raise InvalidInput(f"PEM block BEGIN {begin.decode()} ends with END {end.decode()}")
        if begin in _PEM_CERT_LABELS:
            found.append(_decode_base64(body, "PEM certificate"))
        elif begin in _PEM_PKCS7_LABELS:
            found.extend(_pkcs7_certificates(_decode_base64(body, "PEM PKCS#7")))
    if not found:
        raise expected("a certificate", data)
    return found


def load_certificates(data: bytes) -> list[bytes]:
    """DER certificates from DER, PEM (one or a bundle), PKCS#7 (.p7b) or bare base64.

    Every certificate returned has been fully parsed; anything unusable
    raises InvalidInput saying what is wrong.
    """
    if not data or not data.strip():
        raise InvalidInput("no certificate data (the input is empty)")
    if b"-----BEGIN" in data:
        ders = _from_pem(data)
    elif data[:1] == b"\x30":
        ders = _from_der(data)
    elif _BASE64_TEXT.fullmatch(data):
        # CA web pages often hand out the base64 of a certificate without PEM armour.
        try:
            decoded = _decode_base64(data, "base64 certificate")
        except InvalidInput:  # words and spaces look like base64 too: say it is text
            raise expected("a certificate", data) from None
        ders = _from_der(decoded)
    else:
        raise expected("a certificate", data)
    return [parse_certificate(der).der for der in ders]


def csr_pem(der: bytes) -> bytes:
    """PEM text for a DER certificate request."""
    try:
        request = x509.load_der_x509_csr(der)
    except ValueError:
        raise expected("a certificate request", der) from None
    return request.public_bytes(serialization.Encoding.PEM)


def to_pem(ders: Sequence[bytes]) -> bytes:
    """PEM text for DER certificates, in the given order."""
    return b"".join(
        x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)
        for der in ders
    )


def signature_from(child: ParsedCertificate, issuer: ParsedCertificate) -> bool | None:
    """Did ``issuer``'s key sign ``child``? None when the algorithm cannot be checked (e.g. SM2).

    The answer is kept by the two DERs, which decide it: an enrolment asks it about the same
    three certificates about 20 times (chain order, chain status, install, path validation),
    0.4 ms of CPU each.
    """
    return _signature_from(bytes(child.der), bytes(issuer.der))


@functools.lru_cache(maxsize=PARSED_KEPT)
def _signature_from(child_der: bytes, issuer_der: bytes) -> bool | None:
    child, issuer = parse_certificate(child_der), parse_certificate(issuer_der)
    try:
        child.crypto.verify_directly_issued_by(issuer.crypto)
    except (InvalidSignature, ValueError, TypeError):
        return False
    except UnsupportedAlgorithm:
        return _sm2_signature_from(child, issuer)
    return True


def _sm2_signature_from(child: ParsedCertificate, issuer: ParsedCertificate) -> bool | None:
    """SM2-with-SM3 with GM/T 0009's default ID, checked through sitoken.sm2 (cryptography has no SM2)."""
    signed = child.asn1
    if signed["signature_algorithm"]["algorithm"].dotted != SM2_WITH_SM3_OID or not is_sm2_spki(issuer.spki_der):
        return None
    return verify_host(issuer.spki_der, signed["tbs_certificate"].dump(), signed["signature_value"].native,
                       Mechanism.SM2_SM3)


def issued_by(child: ParsedCertificate, issuer: ParsedCertificate) -> bool:
    """Names chain and the signature verifies (or, where it cannot be checked, key ids agree)."""
    if child.issuer_der != issuer.subject_der:
        return False
    checked = signature_from(child, issuer)
    if checked is not None:
        return checked
    aki = child.asn1.authority_key_identifier
    ski = issuer.asn1.key_identifier
    return aki is None or ski is None or aki == ski


def order_chain(leaf: bytes, others: Sequence[bytes]) -> list[bytes]:
    """``[leaf, its issuer, that one's issuer, ...]`` as far as ``others`` reach.

    Certificates in ``others`` that are not on the leaf's path are left out.
    """
    current = parse_certificate(leaf)
    pool = [parse_certificate(der) for der in others if der != leaf]
    path = [current]
    while len(path) < MAX_CHAIN and not (current.self_issued and issued_by(current, current)):
        issuer = next((c for c in pool if c not in path and issued_by(current, c)), None)
        if issuer is None:
            break
        path.append(issuer)
        current = issuer
    return [c.der for c in path]


def leaf_of(certificates: Sequence[bytes]) -> bytes:
    """The one certificate in a bundle that issued none of the others."""
    parsed = [parse_certificate(der) for der in certificates]
    leaves = [c for c in parsed
              if not any(o is not c and issued_by(o, c) for o in parsed)]
    if len(leaves) != 1:
        raise InvalidInput(f"the bundle has {len(leaves)} end certificates; expected exactly one")
    return leaves[0].der


def canonical_spki(spki_der: bytes) -> bytes:
    """One encoding per public key, so keys from tokens and certificates compare by bytes."""
    try:
        key = serialization.load_der_public_key(spki_der)
        return key.public_bytes(serialization.Encoding.DER,
                                serialization.PublicFormat.SubjectPublicKeyInfo)
    except UnsupportedAlgorithm:
        # Keys cryptography does not know (SM2) compare by their DER re-encoding.
        return bytes(keys.PublicKeyInfo.load(spki_der).dump(force=True))


def public_key_matches(cert_der: bytes, spki_der: bytes) -> bool:
    """Is ``spki_der`` (from a token) the public key certified by ``cert_der``?

    Compared after re-encoding, so a compressed EC point or an absent RSA
    NULL parameter on either side does not cause a false mismatch.
    """
    cert = parse_certificate(cert_der)
    try:
        return canonical_spki(cert.spki_der) == canonical_spki(spki_der)
    except Exception:  # the token's SPKI is outside input too
        raise expected("a public key", spki_der) from None
