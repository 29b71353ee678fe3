"""Dual SM2 certificates in the counter workflow: the KMC's half of a holder's pair, on the token.

The signature half is the workflow's usual key, request and certificate; these are the steps
only a dual-certificate profile has (checking a hand-off's encryption files, importing the
KMC's envelope into the signature key's container, the decryption round trip), written
against the ``Token`` interface, so the workflow only decides when they run.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from ..certs import public_key_matches
from ..certs.dual import EncryptionDelivery, check_encryption_delivery, encrypt_to_certificate
from ..certs.ontoken import key_for_certificate
from ..errors import InvalidInput, NotSupported, SignatureInvalid, SitokenError, TokenAbsent, TokenError
from ..token import Token
from .issuers import split_issued
from .profiles import CertProfile

__all__ = ["decrypt_round_trip", "delete_certificates_of", "encryption_key", "handed_back", "import_envelope",
           "require_signature_key"]


def delete_certificates_of(token: Token, key_id: str) -> int:
    """Delete the certificates of a key (none on SKF, whose certificates go with their container)."""
    try:
        return token.delete_certificates(key_id=bytes.fromhex(key_id))
    except NotSupported:
        if not token.capabilities.key_id_is_label:
            raise
        return 0


def handed_back(profile: CertProfile, leaf: bytes, chain: Sequence[bytes], encryption_certificate: bytes | None,
                envelope: bytes | None) -> EncryptionDelivery | None:
    """The encryption half of a hand-off, checked against the signature certificate (None: one certificate)."""
    given = encryption_certificate is not None or envelope is not None
    if not profile.dual:
        if given:
            raise InvalidInput(f"profile {profile.name!r} has one certificate: no encryption certificate "
                               "or envelope belongs to this enrolment")
        return None
    if encryption_certificate is None or envelope is None:
        raise InvalidInput(f"profile {profile.name!r} has dual certificates: give the encryption certificate "
                           "and the KMC's envelope too")
    enc_leaf, _ = split_issued(encryption_certificate)
    return check_encryption_delivery(leaf, enc_leaf, envelope, chain)


def require_signature_key(token: Token, selector: str, leaf: bytes, where: str) -> None:
    """The signature certificate must be for the key on this token (not another token or holder's file)."""
    if not public_key_matches(leaf, token.public_key_der(selector)):
        raise InvalidInput(f"the signature certificate is not for the key {where}: another token, "
                           "or another holder's file")


def encryption_key(token: Token, certificate: bytes) -> str | None:
    """The selector of the key the encryption certificate certifies, if the token holds it."""
    try:
        return f"id:{key_for_certificate(token, certificate).id}"
    except SitokenError:
        return None


def import_envelope(token: Token, signature_key: str, delivery: EncryptionDelivery) -> None:
    """The KMC's envelope into the signature key's container; a token's refusal reads as bad input."""
    try:
        token.import_enveloped_key(signature_key, delivery.envelope)
    except (TokenAbsent, NotSupported):
        raise
    except TokenError as exc:
        raise InvalidInput(f"the token refused the KMC's envelope ({exc}): it is damaged or sealed for "
                           "another signature key; nothing was imported") from None


def decrypt_round_trip(token: Token, certificate: bytes) -> str:
    """Encrypt to the encryption certificate on the host; the token's encryption key must decrypt it."""
    secret = secrets.token_bytes(32)
    selector = encryption_key(token, certificate)
    if selector is None:
        raise InvalidInput("the token holds no key for the encryption certificate")
    if token.decrypt_sm2(selector, encrypt_to_certificate(certificate, secret)) != secret:
        raise SignatureInvalid("the token's encryption key does not decrypt what was encrypted to its certificate")
    return "sm2"
