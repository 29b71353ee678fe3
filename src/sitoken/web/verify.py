"""Verifying an authentication token from the native host: chain, key usage, origin, nonce, replay."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .. import sm2
from ..algorithms import KeyType, Mechanism
from ..certs.parse import ParsedCertificate, parse_certificate
from ..certs.path import check_validity, validate_path
from ..errors import InvalidInput, SignatureInvalid, SitokenError
from ..provisioning.profiles import ProfileSet
from ..pubkey import key_type_of_spki, verify_host
from .challenge import FORMAT, PAGE_HASH_NAMES, auth_value, check_origin
from .identity import Identity, identity_from_certificate
from .nonces import NonceStore

TOKEN_FIELDS = ("unverifiedCertificate", "algorithm", "signature", "format", "appVersion")
MAX_FIELD = 16_384  # a certificate in base64 fits; anything longer is not a token
CLIENT_AUTH = "client_auth"


class AuthenticationFailed(SitokenError):
    """An authentication token was refused. ``reason`` says which check failed (stable, for logs)."""

    code = "authentication-failed"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "reason": self.reason}


@dataclass(frozen=True)
class _Token:
    certificate: bytes
    mechanism: Mechanism
    signature: bytes


@dataclass
class AuthTokenVerifier:
    """A portal's checks for the tokens of one origin.

    ``trust_anchors`` are the CA certificates (DER) holders' certificates must chain to;
    ``intermediates`` the issuing CAs a token may omit. ``origin`` is the portal's own origin,
    never one the browser sends.
    """

    origin: str
    trust_anchors: Sequence[bytes]
    nonces: NonceStore
    intermediates: Sequence[bytes] = ()
    profiles: ProfileSet | None = None
    require_client_auth: bool = True
    _anchors: list[bytes] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        check_origin(self.origin)
        if not self.trust_anchors:
            raise InvalidInput("no trust anchor given")
        self._anchors = [parse_certificate(der).der for der in self.trust_anchors]

    def verify(self, token: object, session_id: str, *, now: datetime | None = None) -> Identity:
        """The holder ``token`` proves, for the nonce issued to ``session_id`` (used up either way)."""
        nonce, why = self.nonces.take(session_id)
        parsed = _parse_token(token)
        if nonce is None:
            raise AuthenticationFailed(f"nonce-{why}", f"no valid nonce for this session ({why})")
        at = now or datetime.now(timezone.utc)
        cert = self._trusted(parsed.certificate, at)
        _check_usage(cert, self.require_client_auth)
        data = auth_value(self.origin, nonce, parsed.mechanism)
        if not verify_host(cert.spki_der, data, parsed.signature, parsed.mechanism):
            raise AuthenticationFailed("signature", "the signature does not verify for this origin and nonce")
        return identity_from_certificate(cert, self.profiles)

    def verify_signature(self, certificate: bytes, document: bytes, signature: bytes, algorithm: str,
                         *, now: datetime | None = None) -> Identity:
        """The signer of ``document``: the certificate is trusted and for signing, the signature verifies.

        ``algorithm`` is what the host answered (``ecdsa-sha256``, ``sm2-sm3``, …); the portal
        checks the signature over the document it hashed itself, never over a hash the page sent.
        """
        try:
            mechanism = Mechanism(algorithm)
        except ValueError:
            raise AuthenticationFailed("malformed", f"unknown algorithm {algorithm[:40]!r}") from None
        cert = self._trusted(certificate, now or datetime.now(timezone.utc))
        _check_usage(cert, require_client_auth=False)
        if not verify_host(cert.spki_der, document, signature, mechanism):
            raise AuthenticationFailed("signature", "the signature does not verify for this document")
        return identity_from_certificate(cert, self.profiles)

    def _trusted(self, der: bytes, at: datetime) -> ParsedCertificate:
        try:
            cert = parse_certificate(der)
        except InvalidInput as exc:
            raise AuthenticationFailed("malformed", f"the certificate is not valid: {exc}") from None
        try:
            check_validity(cert, at)
        except SignatureInvalid as exc:
            raise AuthenticationFailed("certificate-validity", str(exc)) from None
        try:
            validate_path(cert, self.intermediates, self._anchors, at)
        except (SignatureInvalid, InvalidInput) as exc:
            raise AuthenticationFailed("certificate-untrusted", str(exc)) from None
        return cert


def _check_usage(cert: ParsedCertificate, require_client_auth: bool) -> None:
    usage = cert.asn1.key_usage_value
    if usage is None or "digital_signature" not in usage.native:
        raise AuthenticationFailed("key-usage", "the certificate's key is not for digital signatures")
    ekus = cert.asn1.extended_key_usage_value
    if require_client_auth and ekus is not None and CLIENT_AUTH not in ekus.native \
            and "any_extended_key_usage" not in ekus.native:
        raise AuthenticationFailed("key-usage", "the certificate is not for client authentication")


def _parse_token(token: object) -> _Token:
    if not isinstance(token, Mapping) or any(not isinstance(token.get(k), str) for k in TOKEN_FIELDS):
        raise AuthenticationFailed("malformed", f"a token is an object with the text fields {', '.join(TOKEN_FIELDS)}")
    if any(len(token[k]) > MAX_FIELD for k in TOKEN_FIELDS):
        raise AuthenticationFailed("malformed", "a token field is too long")
    if token["format"] != FORMAT:
        raise AuthenticationFailed("malformed", f"unknown token format {token['format'][:40]!r}")
    try:
        mechanism = Mechanism(token["algorithm"])
    except ValueError:
        raise AuthenticationFailed("malformed", f"unknown algorithm {token['algorithm'][:40]!r}") from None
    return _Token(_b64(token["unverifiedCertificate"]), mechanism, _b64(token["signature"]))


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise AuthenticationFailed("malformed", "a token field is not base64") from None


def document_hash(certificate: bytes, document: bytes) -> tuple[str, bytes]:
    """``(hashAlgorithm, hash)`` the page passes to ``sign`` for ``document``, by the certificate's key.

    The portal hashes its own document with the hash of the key's default scheme (for SM2, e =
    SM3(Z ‖ M)); a key that signs whole messages (Ed25519) cannot sign a hash computed elsewhere.
    """
    spki = parse_certificate(certificate).spki_der
    key_type = key_type_of_spki(spki)
    hash_name = key_type.default_mechanism.hash_name if key_type else None
    page_name = next((page for page, name in PAGE_HASH_NAMES.items() if name == hash_name), None)
    if hash_name is None or page_name is None:
        raise InvalidInput("this certificate's key cannot sign a hash computed by the portal")
    if key_type is KeyType.SM2:  # e = SM3(Z ‖ M) with GM/T 0009's default ID, as verify_host checks
        return page_name, sm2.e_value(sm2.point_from_spki(spki), document)
    return page_name, hashlib.new(hash_name, document).digest()
