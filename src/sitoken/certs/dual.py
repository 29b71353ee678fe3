"""Dual SM2 certificates: what a CA/KMC hands back for one holder, checked before a token is touched.

A holder's signature certificate certifies the key generated on the USB-Key; the encryption
certificate certifies a key pair the KMC generated and delivers in a GM/T 0009 envelope that
only the signature key opens (SKF.md section 7). These checks need no token: they compare the
files with each other and with the request, so a wrong or mixed-up file is refused with the
token left as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from asn1crypto import csr, pem, x509

from ..errors import InvalidInput, SignatureInvalid
from ..sm2 import Sm2PublicKey, is_sm2_spki, point_from_spki
from ..sm2.envelope import EnvelopedKey
from ..token import Mechanism
from .keys import verify_any
from .sniff import expected

#: The one key usage an encryption certificate cannot do without (the KMC's key wraps session keys).
ENCRYPTION_NEEDS = "key_encipherment"


@dataclass(frozen=True)
class EncryptionDelivery:
    """A KMC's answer for one holder, checked: the encryption certificate and the envelope (DER)."""

    certificate: bytes
    envelope: bytes


def request_spki(csr_der: bytes) -> bytes:
    """The DER SubjectPublicKeyInfo a PKCS#10 request (DER or PEM) carries, any key type, SM2 included."""
    data = pem.unarmor(csr_der)[2] if pem.detect(csr_der) else csr_der
    try:
        request = csr.CertificationRequest.load(data, strict=True)
        return bytes(request["certification_request_info"]["subject_pk_info"].dump())
    except (ValueError, TypeError, KeyError):
        raise expected("a certificate request", csr_der) from None


def _certificate(der: bytes, what: str) -> x509.Certificate:
    try:
        cert = x509.Certificate.load(der, strict=True)
        cert.native  # noqa: B018 - asn1crypto is lazy: malformed fields fail here
    except (ValueError, TypeError, KeyError):
        raise InvalidInput(f"the {what} is not a DER X.509 certificate") from None
    return cert


def _usage(cert: x509.Certificate) -> set[str]:
    return set(cert.key_usage_value.native) if cert.key_usage_value is not None else set()


def check_encryption_delivery(
    signature_certificate: bytes, encryption_certificate: bytes, envelope_der: bytes,
    chain: Sequence[bytes] = (),
) -> EncryptionDelivery:
    """Refuse an encryption certificate or envelope that is not the signature holder's pair.

    Same subject and issuer as the signature certificate, an SM2 key of its own with key
    encipherment, the envelope holding that very key, and (when the chain names the issuer)
    both certificates signed by it.
    """
    sign = _certificate(signature_certificate, "signature certificate")
    enc = _certificate(encryption_certificate, "encryption certificate")
    enc_spki = bytes(enc.public_key.dump())
    if not is_sm2_spki(enc_spki):
        raise InvalidInput("the encryption certificate does not certify an SM2 key")
    if enc_spki == bytes(sign.public_key.dump()):
        raise InvalidInput("the encryption certificate certifies the signature key: it is not the KMC's pair")
    if enc.subject.dump() != sign.subject.dump():
        raise InvalidInput(f"the encryption certificate is for {enc.subject.human_friendly!r}, "
                           f"not the signature certificate's holder {sign.subject.human_friendly!r}")
    if enc.issuer.dump() != sign.issuer.dump():
        raise InvalidInput("the encryption and signature certificates come from different issuers")
    if ENCRYPTION_NEEDS not in _usage(enc):
        raise InvalidInput("the encryption certificate lacks keyEncipherment: it is not an encryption certificate")
    envelope = EnvelopedKey.from_der(envelope_der)
    if envelope.public_point != point_from_spki(enc_spki):
        raise InvalidInput("the envelope holds another key than the one the encryption certificate certifies")
    _signed_by_issuer((sign, enc), chain)
    return EncryptionDelivery(encryption_certificate, envelope_der)


def _signed_by_issuer(certificates: Sequence[x509.Certificate], chain: Sequence[bytes]) -> None:
    issuers = [c for c in (_certificate(d, "CA certificate") for d in chain)
               if c.subject.dump() == certificates[0].issuer.dump()]
    if not issuers:
        return  # no chain given: the round trip's verification to the trust anchor checks the issuer
    spki = bytes(issuers[0].public_key.dump())
    for cert in certificates:
        tbs = cert["tbs_certificate"].dump()
        try:
            verify_any(spki, cert["signature_value"].native, tbs, Mechanism.SM2_SM3)
        except SignatureInvalid:
            raise InvalidInput(f"certificate {cert.serial_number:x} is not signed by its issuer in the chain") from None


def encrypt_to_certificate(certificate: bytes, plaintext: bytes) -> bytes:
    """SM2-encrypt to an encryption certificate's key: GM/T 0009 DER, as ``openssl pkeyutl -encrypt`` writes."""
    return Sm2PublicKey(bytes(_certificate(certificate, "encryption certificate").public_key.dump())
                        ).encrypt(plaintext).to_der()
