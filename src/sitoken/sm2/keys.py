"""SM2 public and private keys on the host, through OpenSSL 3's libcrypto.

Signatures are DER ``SEQUENCE {r, s}`` as in X.509 and CMS. Z and e are computed here (see
``encoding``), never by OpenSSL, so the host computes exactly what an SKF token is given: the
same ``e`` goes to ``SKF_ECCSignData`` and to ``verify_digest``.
"""

from __future__ import annotations

from typing import Any

from asn1crypto import keys

from ..errors import InvalidInput
from ._libcrypto import Libcrypto, libcrypto
from .encoding import (
    DEFAULT_ID,
    SIZE,
    SM2_CURVE_OID,
    N,
    Sm2Ciphertext,
    e_value,
    point_from_spki,
    spki_from_point,
    z_value,
)


class _Handle:
    """Owns one EVP_PKEY and frees it when garbage-collected."""

    def __init__(self, crypto: Libcrypto, pkey: Any) -> None:
        self._crypto = crypto
        self._pkey = crypto.ffi.gc(pkey, crypto.lib.EVP_PKEY_free)
        if not crypto.lib.EVP_PKEY_is_a(self._pkey, b"SM2"):
            raise InvalidInput("the key is not an SM2 key")

    def _op(self, init: str, data: bytes) -> bytes:
        c = self._crypto
        with c.pkey_ctx(self._pkey, init) as ctx:
            return c.two_call(getattr(c.lib, f"EVP_PKEY_{init}"), ctx, data, f"EVP_PKEY_{init}")


class Sm2PublicKey(_Handle):
    """An SM2 public key: verify (with an ID), encrypt, and its SPKI and point."""

    def __init__(self, spki: bytes) -> None:
        self.point = point_from_spki(spki)  # checked on the curve before OpenSSL sees it
        crypto = libcrypto()
        super().__init__(crypto, crypto.d2i(crypto.lib.d2i_PUBKEY, spki, "d2i_PUBKEY"))
        self.spki = spki_from_point(self.point)

    @classmethod
    def from_point(cls, point: bytes) -> Sm2PublicKey:
        """From 04 ‖ X ‖ Y (or a compressed point)."""
        return cls(spki_from_point(point))

    def z(self, ident: bytes = DEFAULT_ID) -> bytes:
        return z_value(self.point, ident)

    def digest(self, message: bytes, ident: bytes = DEFAULT_ID) -> bytes:
        """e = SM3(Z ‖ M) for this key."""
        return e_value(self.point, message, ident)

    def verify(self, message: bytes, signature: bytes, ident: bytes = DEFAULT_ID) -> bool:
        """SM2-with-SM3 over ``message`` for signer ``ident``; ``signature`` is DER."""
        return self.verify_digest(self.digest(message, ident), signature)

    def verify_digest(self, e: bytes, signature: bytes) -> bool:
        """Verify a DER signature over a precomputed e (32 bytes)."""
        if len(e) != SIZE:
            raise InvalidInput("an SM2 digest e is 32 bytes")
        c = self._crypto
        with c.pkey_ctx(self._pkey, "verify") as ctx:
            ok = c.lib.EVP_PKEY_verify(ctx, signature, len(signature), e, len(e))
        c.lib.ERR_clear_error()  # a bad signature queues an error nobody will read
        return bool(ok == 1)

    def encrypt(self, plaintext: bytes) -> Sm2Ciphertext:
        """SM2 public-key encryption (GM/T 0003.4); convert with ``to_der`` / ``to_c1c3c2``."""
        if not plaintext:
            raise InvalidInput("SM2 cannot encrypt an empty message")
        return Sm2Ciphertext.from_der(self._op("encrypt", plaintext))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sm2PublicKey) and other.point == self.point

    def __hash__(self) -> int:
        return hash(self.point)

    def __repr__(self) -> str:
        return f"Sm2PublicKey({self.point[1:9].hex()}…)"


class Sm2PrivateKey(_Handle):
    """A software SM2 key pair, for test beds, a local CA and KMC-style key envelopes."""

    def __init__(self, pkey: Any) -> None:
        super().__init__(libcrypto(), pkey)

    @classmethod
    def generate(cls) -> Sm2PrivateKey:
        crypto = libcrypto()
        ctx = crypto.lib.EVP_PKEY_CTX_new_from_name(crypto.ffi.NULL, b"SM2", crypto.ffi.NULL)
        if ctx == crypto.ffi.NULL:
            raise crypto.fail("EVP_PKEY_CTX_new_from_name")
        try:
            crypto.check(crypto.lib.EVP_PKEY_keygen_init(ctx), "EVP_PKEY_keygen_init")
            out = crypto.ffi.new("EVP_PKEY **")
            crypto.check(crypto.lib.EVP_PKEY_generate(ctx, out), "EVP_PKEY_generate")
        finally:
            crypto.lib.EVP_PKEY_CTX_free(ctx)
        return cls(out[0])

    @classmethod
    def from_pkcs8(cls, der: bytes) -> Sm2PrivateKey:
        """From a DER PKCS#8 PrivateKeyInfo (``openssl genpkey -algorithm SM2 -outform DER``)."""
        crypto = libcrypto()
        return cls(crypto.d2i(crypto.lib.d2i_AutoPrivateKey, der, "d2i_AutoPrivateKey"))

    @classmethod
    def from_scalar(cls, d: bytes) -> Sm2PrivateKey:
        """From the 32-byte private scalar (an ECCPRIVATEKEYBLOB's last 32 bytes)."""
        value = int.from_bytes(d, "big")
        if len(d) > SIZE or not 0 < value < N - 1:
            raise InvalidInput("an SM2 private key is a scalar in [1, n-2]")
        curve = keys.ECDomainParameters(name="named", value=SM2_CURVE_OID)
        inner = keys.ECPrivateKey({"version": "ecPrivkeyVer1", "private_key": value})
        info = keys.PrivateKeyInfo({
            "version": 0,
            "private_key_algorithm": {"algorithm": "ec", "parameters": curve},
            "private_key": inner,
        })
        return cls.from_pkcs8(bytes(info.dump()))  # OpenSSL derives the public point

    def scalar(self) -> bytes:
        c = self._crypto
        bn = c.ffi.new("BIGNUM **")
        c.check(c.lib.EVP_PKEY_get_bn_param(self._pkey, b"priv", bn), "EVP_PKEY_get_bn_param")
        try:
            out = c.ffi.new("unsigned char[]", SIZE)
            c.lib.BN_bn2binpad(bn[0], out, SIZE)
            return bytes(c.ffi.buffer(out, SIZE))
        finally:
            c.lib.BN_clear_free(bn[0])

    def pkcs8(self) -> bytes:
        c = self._crypto
        info = c.lib.EVP_PKEY2PKCS8(self._pkey)
        if info == c.ffi.NULL:
            raise c.fail("EVP_PKEY2PKCS8")
        try:
            return c.i2d(c.lib.i2d_PKCS8_PRIV_KEY_INFO, info, "i2d_PKCS8_PRIV_KEY_INFO")
        finally:
            c.lib.PKCS8_PRIV_KEY_INFO_free(info)

    def public_key(self) -> Sm2PublicKey:
        c = self._crypto
        return Sm2PublicKey(c.i2d(c.lib.i2d_PUBKEY, self._pkey, "i2d_PUBKEY"))

    def sign(self, message: bytes, ident: bytes = DEFAULT_ID) -> bytes:
        """SM2-with-SM3 DER signature over ``message`` for signer ``ident``."""
        return self.sign_digest(self.public_key().digest(message, ident))

    def sign_digest(self, e: bytes) -> bytes:
        """DER signature over a precomputed e, as SKF_ECCSignData signs it."""
        if len(e) != SIZE:
            raise InvalidInput("an SM2 digest e is 32 bytes")
        return self._op("sign", e)

    def decrypt(self, ciphertext: Sm2Ciphertext) -> bytes:
        return self._op("decrypt", ciphertext.to_der())

    def __repr__(self) -> str:
        return "Sm2PrivateKey(<private>)"
