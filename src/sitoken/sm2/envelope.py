"""The GM/T 0009 SM2EnvelopedKey: a KMC's encryption key pair, wrapped for the holder's signature key.

SEQUENCE { symAlgID AlgorithmIdentifier, symEncryptedKey SM2Cipher, sm2PublicKey BIT STRING,
sm2EncryptedPrivateKey BIT STRING } (SKF.md section 7): the private scalar under SM4-ECB with a fresh
key K, and K SM2-encrypted to the holder's signature public key. This is the file a KMC hands over;
an SKF token takes the same content as an ENVELOPEDKEYBLOB (``sitoken.skf.blobs``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from asn1crypto import algos, core

from ..errors import InvalidInput
from . import sm4
from .encoding import SIZE, SM4_ECB_OID, Sm2Ciphertext, _Sm2Cipher, check_point
from .keys import Sm2PrivateKey, Sm2PublicKey


class _Sm2EnvelopedKey(core.Sequence):  # type: ignore[misc]
    _fields = [  # noqa: RUF012 - asn1crypto's declaration style
        ("sym_alg_id", algos.EncryptionAlgorithm),
        ("sym_encrypted_key", _Sm2Cipher),
        ("sm2_public_key", core.BitString),
        ("sm2_encrypted_private_key", core.BitString),
    ]


@dataclass(frozen=True)
class EnvelopedKey:
    """An SM2 encryption key pair as a KMC delivers it: only the holder's signature key opens it."""

    wrapped_key: Sm2Ciphertext  # the SM4 key K, SM2-encrypted to the holder's signature key
    public_point: bytes  # the encryption key's 04 ‖ X ‖ Y
    encrypted_private: bytes  # SM4-ECB_K(d), 32 bytes

    @classmethod
    def seal(cls, key: Sm2PrivateKey, holder: Sm2PublicKey) -> EnvelopedKey:
        """Wrap ``key`` for ``holder`` under a fresh SM4 key (what the KMC does)."""
        session = secrets.token_bytes(sm4.BLOCK)
        return cls(holder.encrypt(session), key.public_key().point, sm4.encrypt(session, key.scalar()))

    def open(self, holder: Sm2PrivateKey) -> Sm2PrivateKey:
        """Unwrap with the holder's signature key on the host (tests; a token does this itself)."""
        session = holder.decrypt(self.wrapped_key)
        key = Sm2PrivateKey.from_scalar(sm4.decrypt(session, self.encrypted_private))
        if key.public_key().point != self.public_point:
            raise InvalidInput("the envelope's private key does not match its public key")
        return key

    def to_der(self) -> bytes:
        return bytes(_Sm2EnvelopedKey({
            "sym_alg_id": {"algorithm": SM4_ECB_OID},
            "sym_encrypted_key": _Sm2Cipher.load(self.wrapped_key.to_der()),
            "sm2_public_key": core.BitString.load(core.OctetBitString(self.public_point).dump()),
            "sm2_encrypted_private_key": core.BitString.load(core.OctetBitString(self.encrypted_private).dump()),
        }).dump())

    @classmethod
    def from_der(cls, der: bytes) -> EnvelopedKey:
        try:
            parsed = _Sm2EnvelopedKey.load(der, strict=True)
            algorithm = parsed["sym_alg_id"]["algorithm"].dotted
            wrapped = Sm2Ciphertext.from_der(parsed["sym_encrypted_key"].dump())
            point = core.OctetBitString.load(parsed["sm2_public_key"].dump()).native
            private = core.OctetBitString.load(parsed["sm2_encrypted_private_key"].dump()).native
        except (ValueError, TypeError, KeyError):
            raise InvalidInput("not a DER SM2 enveloped key (GM/T 0009 SM2EnvelopedKey)") from None
        if algorithm != SM4_ECB_OID:
            raise InvalidInput(f"the enveloped key uses {algorithm}; sitoken takes SM4-ECB ({SM4_ECB_OID})")
        if len(private) != SIZE or len(wrapped.cipher) != sm4.BLOCK:
            raise InvalidInput("the enveloped key holds a 32-byte private key under a 16-byte SM4 key")
        return cls(wrapped, check_point(bytes(point)), bytes(private))
