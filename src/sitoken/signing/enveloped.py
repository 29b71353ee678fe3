"""CMS EnvelopedData (RFC 5652 section 6; GM/T 0010 envelopedData) opened with a recipient's key on a token.

The message carries, per recipient, the content key encrypted to that recipient's certificate
(KeyTransRecipientInfo) and the content encrypted under the content key. Only the key
decryption needs the token; this module finds the recipient, hands the token the encrypted
key through ``decrypt_key`` and decrypts the content on the host. SM2 key transport (the key
as a GM/T 0009 SM2Cipher) with SM4-CBC content, under PKCS#7's or GM/T 0010's content types.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from asn1crypto import cms, core

from ..certs.names import format_name
from ..certs.parse import ParsedCertificate, parse_certificate
from ..errors import InvalidInput, KeyNotFound, NotSupported, SkfError
from ..sm2 import SM2_CURVE_OID, SM2_ENCRYPT_OID, SM4_CBC_OID, Sm2Ciphertext, sm4
from . import gmt0010 as gmt

# SM2 key transport as the sources spell it: GM/T 0006's SM2-3, GmSSL's 301.2 (SKF.md section 8),
# and the bare SM2 OID that OpenSSL names its SM2 keys and ciphers by.
_SM2_KEY_TRANSPORT = (SM2_ENCRYPT_OID, "1.2.156.10197.1.301.2", SM2_CURVE_OID)
_RSA_KEY_TRANSPORT = ("rsaes_pkcs1v15", "rsaes_oaep")
_CONTENT_CIPHERS = {SM4_CBC_OID: "sm4-cbc"}

#: Decrypts the content key with the recipient's private key (on the token); SM2 only for now.
KeyDecryptor = Callable[[Sm2Ciphertext], bytes]


@dataclass(frozen=True)
class OpenedEnvelope:
    """The content of an EnvelopedData, and how it was protected."""

    content: bytes
    recipient: str  # the subject of the recipient's certificate
    key_algorithm: str  # "sm2"
    content_algorithm: str  # "sm4-cbc"
    identifiers: str  # "pkcs7" or "gmt0010": which content types the message used
    recipients: int  # how many recipients the message is addressed to

    def to_dict(self) -> dict[str, object]:
        return {
            "recipient": self.recipient,
            "key_algorithm": self.key_algorithm,
            "content_algorithm": self.content_algorithm,
            "identifiers": self.identifiers,
            "recipients": self.recipients,
            "bytes": len(self.content),
        }


def _load(cms_der: bytes) -> tuple[cms.EnvelopedData, str]:
    if not cms_der:
        raise InvalidInput("the message is empty")
    enveloped, content_type = gmt.load_content(cms_der, gmt.ENVELOPED_DATA_TYPES, "enveloped data",
                                               lambda content: content.native)
    return enveloped, "pkcs7" if content_type == "enveloped_data" else "gmt0010"


def _addressed_to(rid: cms.RecipientIdentifier, cert: ParsedCertificate) -> bool:
    if rid.name == "issuer_and_serial_number":
        tbs = cert.asn1["tbs_certificate"]
        return bool(rid.chosen["issuer"].dump() == cert.issuer_der
                    and rid.chosen["serial_number"].native == tbs["serial_number"].native)
    return bool(cert.asn1.key_identifier == rid.chosen.native)


def _recipient(enveloped: cms.EnvelopedData, cert: ParsedCertificate) -> cms.KeyTransRecipientInfo:
    infos = list(enveloped["recipient_infos"])
    for info in infos:
        if info.name == "ktri" and _addressed_to(info.chosen["rid"], cert):
            return info.chosen
    serial = cert.asn1["tbs_certificate"]["serial_number"].native
    raise KeyNotFound(f"the message is addressed to {len(infos)} recipient(s), none of them this key's "
                      f"certificate ({format_name(cert.subject_der)}, serial {serial:x})")


def _content_key(recipient: cms.KeyTransRecipientInfo, decrypt_key: KeyDecryptor) -> bytes:
    algorithm = recipient["key_encryption_algorithm"]["algorithm"]
    if algorithm.native in _RSA_KEY_TRANSPORT:
        raise NotSupported("RSA key transport: sitoken decrypts with SM2 encryption keys on SKF tokens only")
    if algorithm.dotted not in _SM2_KEY_TRANSPORT:
        raise NotSupported(f"key transport algorithm {algorithm.dotted} is not supported (SM2 is)")
    wrapped = Sm2Ciphertext.from_der(recipient["encrypted_key"].native)
    try:
        key = decrypt_key(wrapped)
    except SkfError as err:  # the token's generic refusal: its C3 check failed
        raise InvalidInput("the content key does not decrypt with this key: the message is damaged "
                           f"({err.function} refused it)") from None
    if len(key) != sm4.BLOCK:
        raise InvalidInput(f"the content key is {len(key)} bytes; SM4 takes 16 (damaged message?)")
    return key


def _content(enveloped: cms.EnvelopedData) -> tuple[str, bytes, bytes]:
    """The content cipher's name, its IV and the encrypted content."""
    encrypted = enveloped["encrypted_content_info"]
    if encrypted["content_type"].native not in gmt.DATA_TYPES:
        raise NotSupported(f"the enveloped content is {encrypted['content_type'].native}, not data")
    algorithm = encrypted["content_encryption_algorithm"]
    oid = algorithm["algorithm"].dotted
    if oid not in _CONTENT_CIPHERS:
        raise NotSupported(f"content encryption {algorithm['algorithm'].native} is not supported "
                           f"(SM4-CBC, {SM4_CBC_OID}, is)")
    try:
        iv = core.OctetString.load(algorithm["parameters"].dump(), strict=True).native
    except (ValueError, TypeError):
        raise InvalidInput("the SM4-CBC parameters are not an IV (OCTET STRING)") from None
    if len(iv) != sm4.BLOCK:
        raise InvalidInput("the SM4-CBC IV is not 16 bytes")
    ciphertext = encrypted["encrypted_content"].native
    if ciphertext is None:
        raise InvalidInput("the message carries no encrypted content (detached content is not supported)")
    return _CONTENT_CIPHERS[oid], iv, bytes(ciphertext)


def open_enveloped(cms_der: bytes, certificate_der: bytes, decrypt_key: KeyDecryptor) -> OpenedEnvelope:
    """The content of ``cms_der`` for the holder of ``certificate_der``.

    Checks everything the host can (structure, recipient, algorithms) before the token decrypts
    the content key; a wrong recipient raises KeyNotFound, an unsupported algorithm NotSupported,
    a damaged key or content (bad padding) InvalidInput.
    """
    enveloped, identifiers = _load(cms_der)
    cert = parse_certificate(certificate_der)
    recipient = _recipient(enveloped, cert)
    cipher, iv, ciphertext = _content(enveloped)
    key = _content_key(recipient, decrypt_key)
    content = sm4.decrypt(key, ciphertext, iv=iv, pad=True)
    return OpenedEnvelope(
        content=content,
        recipient=format_name(cert.subject_der),
        key_algorithm="sm2",
        content_algorithm=cipher,
        identifiers=identifiers,
        recipients=len(enveloped["recipient_infos"]),
    )
