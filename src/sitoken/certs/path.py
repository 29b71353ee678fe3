"""Certification path validation from a leaf to a given trust anchor (no revocation checks)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ..errors import InvalidInput, SignatureInvalid
from .names import format_name
from .parse import MAX_CHAIN, ParsedCertificate, parse_certificate, signature_from


def _signed_by(child: ParsedCertificate, issuer: ParsedCertificate) -> bool:
    # Trust needs a checked signature: a name match alone is never enough here.
    return child.issuer_der == issuer.subject_der and signature_from(child, issuer) is True


def _subject(cert: ParsedCertificate) -> str:
    return format_name(cert.subject_der)


def check_validity(cert: ParsedCertificate, at: datetime) -> None:
    """Raise SignatureInvalid unless ``cert`` is inside its validity period at ``at``."""
    if at < cert.crypto.not_valid_before_utc:
        raise SignatureInvalid(f"certificate {_subject(cert)} not yet valid at {at.isoformat()}")
    if at > cert.crypto.not_valid_after_utc:
        raise SignatureInvalid(f"certificate {_subject(cert)} had expired at {at.isoformat()}")


def _check_issuer(cert: ParsedCertificate, cas_below: int) -> None:
    if not cert.is_ca:
        raise SignatureInvalid(f"{_subject(cert)} is not a CA certificate")
    usage = cert.asn1.key_usage_value
    if usage is not None and "key_cert_sign" not in usage.native:
        raise SignatureInvalid(f"{_subject(cert)} may not sign certificates (key usage)")
    path_length = cert.asn1.max_path_length
    if path_length is not None and cas_below > path_length:
        raise SignatureInvalid(f"{_subject(cert)} allows only {path_length} CAs below it")


def _check_signer(leaf: ParsedCertificate) -> None:
    usage = leaf.asn1.key_usage_value
    if usage is not None and not {"digital_signature", "non_repudiation"} & set(usage.native):
        raise SignatureInvalid(f"{_subject(leaf)} is not for signatures (key usage)")


def validate_path(
    leaf: bytes | ParsedCertificate,
    intermediates: Sequence[bytes | ParsedCertificate],
    trust: Sequence[bytes],
    at: datetime,
) -> list[ParsedCertificate]:
    """The path ``[leaf, ..., anchor]``, every certificate checked at ``at``.

    A trust anchor may be a root or any CA, or the leaf itself (pinning). Checks
    signatures, validity, basic constraints, key usage and path length; it
    does not check revocation, policies or name constraints.
    """
    if not trust:
        raise InvalidInput("no trust anchor given")
    anchors = [parse_certificate(der) for der in trust]
    pool = [c if isinstance(c, ParsedCertificate) else parse_certificate(c) for c in intermediates]
    current = leaf if isinstance(leaf, ParsedCertificate) else parse_certificate(leaf)
    _check_signer(current)
    path = [current]
    while True:
        check_validity(current, at)
        if any(current.der == a.der for a in anchors):
            return path
        issuer = next((a for a in anchors if _signed_by(current, a)), None)
        if issuer is not None:
            _check_issuer(issuer, len(path) - 1)
            check_validity(issuer, at)
            return [*path, issuer]
        issuer = next((c for c in pool if all(c is not p for p in path) and _signed_by(current, c)),
                      None)
        if issuer is None or len(path) >= MAX_CHAIN:
            raise SignatureInvalid(f"no chain from {_subject(current)} to a trusted certificate")
        _check_issuer(issuer, len(path) - 1)
        path.append(issuer)
        current = issuer
