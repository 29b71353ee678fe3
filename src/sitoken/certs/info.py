"""CertInfo: what a certificate says, its expiry and renewal state, whether its chain is whole."""

from __future__ import annotations

import contextlib
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from cryptography.hazmat.primitives.serialization import load_der_public_key

from ..errors import InvalidInput
from ..token import KeyType
from .extensions import EXTENDED_KEY_USAGES
from .keys import key_type_of
from .names import format_name
from .parse import ParsedCertificate, canonical_spki, issued_by, order_chain, parse_certificate

RENEW_WINDOW_DAYS = 30  # social-insurance practice: renew in the month before expiry
_EKU_NAMES = {oid: name for name, oid in EXTENDED_KEY_USAGES.items()}
_SAN_KINDS = {"rfc822_name": "email", "dns_name": "dns", "uniform_resource_identifier": "uri",
              "ip_address": "ip"}


@dataclass(frozen=True)
class CertInfo:
    """A certificate as sitoken reports it; ``to_dict`` field names are stable for --json."""

    subject: str
    issuer: str
    serial: str  # lower-case hex
    not_before: datetime
    not_after: datetime
    days_left: int  # whole days until not_after; negative once expired
    expired: bool
    not_yet_valid: bool
    renew_due: bool  # inside the renewal window and not yet expired
    key_type: KeyType | None  # None for keys sitoken does not generate (e.g. SM2)
    spki_sha256: str  # SHA-256 of the DER SubjectPublicKeyInfo: matches a token key
    subject_key_id: str | None
    fingerprint_sha256: str
    signature_algorithm: str
    is_ca: bool
    self_signed: bool
    chain_complete: bool  # the given chain reaches a self-signed root
    chain_length: int
    key_usage: tuple[str, ...]
    extended_key_usage: tuple[str, ...]
    san: tuple[str, ...]

    @property
    def status(self) -> str:
        if self.expired:
            return "expired"
        if self.not_yet_valid:
            return "not-yet-valid"
        return "renew-due" if self.renew_due else "valid"

    def to_dict(self) -> dict[str, object]:
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "serial": self.serial,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "days_left": self.days_left,
            "status": self.status,
            "expired": self.expired,
            "not_yet_valid": self.not_yet_valid,
            "renew_due": self.renew_due,
            "key_type": self.key_type.value if self.key_type else None,
            "spki_sha256": self.spki_sha256,
            "subject_key_id": self.subject_key_id,
            "fingerprint_sha256": self.fingerprint_sha256,
            "signature_algorithm": self.signature_algorithm,
            "is_ca": self.is_ca,
            "self_signed": self.self_signed,
            "chain_complete": self.chain_complete,
            "chain_length": self.chain_length,
            "key_usage": list(self.key_usage),
            "extended_key_usage": list(self.extended_key_usage),
            "san": list(self.san),
        }


def serial_hex(serial: int) -> str:
    """Lower-case hex of even length; a (malformed) negative serial keeps its sign."""
    digits = f"{abs(serial):x}"
    digits = digits.zfill(len(digits) + len(digits) % 2)
    return f"-{digits}" if serial < 0 else digits


def _key_type(cert: ParsedCertificate) -> KeyType | None:
    try:
        return key_type_of(load_der_public_key(cert.spki_der))
    except Exception:  # unknown algorithms (SM2) or odd parameters: just not a sitoken type
        return None


def _chain_complete(path: Sequence[ParsedCertificate]) -> bool:
    top = path[-1]
    return top.self_issued and issued_by(top, top)


def _extensions(cert: ParsedCertificate) -> tuple[tuple[str, ...], ...]:
    asn1 = cert.asn1
    usage = tuple(sorted(asn1.key_usage_value.native)) if asn1.key_usage_value else ()
    eku_value = asn1.extended_key_usage_value
    eku = tuple(_EKU_NAMES.get(o.dotted, o.dotted) for o in eku_value) if eku_value else ()
    san_value = asn1.subject_alt_name_value
    san = tuple(
        f"{_SAN_KINDS[g.name]}:{g.native}" for g in san_value if g.name in _SAN_KINDS
    ) if san_value else ()
    return usage, eku, san


def _validity(cert: ParsedCertificate) -> tuple[datetime, datetime]:
    validity = cert.asn1["tbs_certificate"]["validity"]
    before, after = validity["not_before"].native, validity["not_after"].native
    if not isinstance(before, datetime) or not isinstance(after, datetime):
        raise InvalidInput("certificate validity dates are not usable")
    return before.astimezone(timezone.utc), after.astimezone(timezone.utc)


def cert_info(
    der: bytes,
    *,
    now: datetime | None = None,
    renew_window_days: int = RENEW_WINDOW_DAYS,
    chain: Sequence[bytes] = (),
) -> CertInfo:
    """Describe a DER certificate at ``now`` (UTC now by default), with its chain if given."""
    cert = parse_certificate(der)
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    not_before, not_after = _validity(cert)
    path = [parse_certificate(d) for d in order_chain(der, chain)]
    usage, eku, san = _extensions(cert)
    expired = now > not_after
    ski = cert.asn1.key_identifier
    return CertInfo(
        subject=format_name(cert.subject_der),
        issuer=format_name(cert.issuer_der),
        serial=serial_hex(cert.asn1.serial_number),
        not_before=not_before,
        not_after=not_after,
        days_left=math.floor((not_after - now) / timedelta(days=1)),
        expired=expired,
        not_yet_valid=now < not_before,
        renew_due=not expired and not_after - now <= timedelta(days=renew_window_days),
        key_type=_key_type(cert),
        spki_sha256=spki_fingerprint(cert.spki_der),
        subject_key_id=ski.hex() if ski else None,
        fingerprint_sha256=hashlib.sha256(cert.der).hexdigest(),
        signature_algorithm=str(cert.asn1["signature_algorithm"]["algorithm"].native),
        is_ca=cert.is_ca,
        self_signed=cert.self_issued and issued_by(cert, cert),
        chain_complete=_chain_complete(path),
        chain_length=len(path),
        key_usage=usage,
        extended_key_usage=eku,
        san=san,
    )


def spki_fingerprint(spki_der: bytes) -> str:
    """SHA-256 of the canonical SPKI: equal for a token's key and the certificate of that key."""
    # A key neither library can re-encode keeps its own bytes.
    with contextlib.suppress(Exception):
        spki_der = canonical_spki(spki_der)
    return hashlib.sha256(spki_der).hexdigest()
