"""The system's OpenSSL 3 libcrypto through cffi (ABI mode): the EVP calls SM2 needs, nothing more.

pyca/cryptography cannot load SM2 keys, and the PyPI wrappers of GmSSL or Tongsuo either need a
library Debian does not ship or have not been released since 2023. OpenSSL 3 (``libssl3``, on
every Debian 12 machine) has SM2, SM3 and SM4 and is maintained, so sitoken declares the dozen
EVP functions it calls and loads libcrypto at run time: no compiler, no header copied.
"""

from __future__ import annotations

import ctypes.util
import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import cffi

from ..errors import CryptoError, ModuleLoadError

#: Overrides where libcrypto is looked for (a path), for machines with several OpenSSLs.
LIBCRYPTO_ENV = "SITOKEN_LIBCRYPTO"

_CDEF = """
typedef struct evp_pkey_st EVP_PKEY;
typedef struct evp_pkey_ctx_st EVP_PKEY_CTX;
typedef struct bignum_st BIGNUM;
typedef struct pkcs8_priv_key_info_st PKCS8_PRIV_KEY_INFO;

unsigned long OpenSSL_version_num(void);
unsigned long ERR_get_error(void);
void ERR_error_string_n(unsigned long e, char *buf, size_t len);
void ERR_clear_error(void);

EVP_PKEY *d2i_PUBKEY(EVP_PKEY **a, const unsigned char **pp, long length);
int i2d_PUBKEY(const EVP_PKEY *a, unsigned char **pp);
EVP_PKEY *d2i_AutoPrivateKey(EVP_PKEY **a, const unsigned char **pp, long length);
PKCS8_PRIV_KEY_INFO *EVP_PKEY2PKCS8(const EVP_PKEY *pkey);
int i2d_PKCS8_PRIV_KEY_INFO(const PKCS8_PRIV_KEY_INFO *a, unsigned char **pp);
void PKCS8_PRIV_KEY_INFO_free(PKCS8_PRIV_KEY_INFO *a);
void EVP_PKEY_free(EVP_PKEY *pkey);
int EVP_PKEY_is_a(const EVP_PKEY *pkey, const char *name);
int EVP_PKEY_get_bn_param(const EVP_PKEY *pkey, const char *key_name, BIGNUM **bn);
int BN_bn2binpad(const BIGNUM *a, unsigned char *to, int tolen);
void BN_clear_free(BIGNUM *a);

EVP_PKEY_CTX *EVP_PKEY_CTX_new(EVP_PKEY *pkey, void *engine);
EVP_PKEY_CTX *EVP_PKEY_CTX_new_from_name(void *libctx, const char *name, const char *propquery);
void EVP_PKEY_CTX_free(EVP_PKEY_CTX *ctx);
int EVP_PKEY_keygen_init(EVP_PKEY_CTX *ctx);
int EVP_PKEY_generate(EVP_PKEY_CTX *ctx, EVP_PKEY **ppkey);
int EVP_PKEY_sign_init(EVP_PKEY_CTX *ctx);
int EVP_PKEY_sign(EVP_PKEY_CTX *ctx, unsigned char *sig, size_t *siglen, const unsigned char *tbs, size_t tbslen);
int EVP_PKEY_verify_init(EVP_PKEY_CTX *ctx);
int EVP_PKEY_verify(EVP_PKEY_CTX *ctx, const unsigned char *sig, size_t siglen,
                    const unsigned char *tbs, size_t tbslen);
int EVP_PKEY_encrypt_init(EVP_PKEY_CTX *ctx);
int EVP_PKEY_encrypt(EVP_PKEY_CTX *ctx, unsigned char *out, size_t *outlen, const unsigned char *in, size_t inlen);
int EVP_PKEY_decrypt_init(EVP_PKEY_CTX *ctx);
int EVP_PKEY_decrypt(EVP_PKEY_CTX *ctx, unsigned char *out, size_t *outlen, const unsigned char *in, size_t inlen);
"""


class Libcrypto:
    """One loaded libcrypto: ``ffi`` and ``lib``, plus the helpers every SM2 call shares."""

    def __init__(self, path: str) -> None:
        self.ffi = cffi.FFI()
        self.ffi.cdef(_CDEF)
        try:
            self.lib: Any = self.ffi.dlopen(path)
        except OSError as exc:
            raise ModuleLoadError(f"cannot load OpenSSL's libcrypto ({path}): {exc}", function="dlopen") from None
        self.path = path
        if self.lib.OpenSSL_version_num() < 0x30000000:
            raise ModuleLoadError(f"{path} is older than OpenSSL 3.0, which SM2 needs")

    def fail(self, what: str) -> CryptoError:
        """A CryptoError with OpenSSL's queued reason; the queue is emptied for the next call."""
        code = self.lib.ERR_get_error()
        reason = ""
        if code:
            buf = self.ffi.new("char[256]")
            self.lib.ERR_error_string_n(code, buf, 256)
            reason = ": " + self.ffi.string(buf).decode("ascii", "replace")
        self.lib.ERR_clear_error()
        return CryptoError(f"OpenSSL {what} failed{reason}")

    def check(self, result: int, what: str) -> None:
        if result != 1:
            raise self.fail(what)

    @contextmanager
    def pkey_ctx(self, pkey: Any, init: str) -> Iterator[Any]:
        """An EVP_PKEY_CTX for ``pkey``, initialised by ``EVP_PKEY_<init>_init``, freed on exit."""
        ctx = self.lib.EVP_PKEY_CTX_new(pkey, self.ffi.NULL)
        if ctx == self.ffi.NULL:
            raise self.fail("EVP_PKEY_CTX_new")
        try:
            self.check(getattr(self.lib, f"EVP_PKEY_{init}_init")(ctx), f"EVP_PKEY_{init}_init")
            yield ctx
        finally:
            self.lib.EVP_PKEY_CTX_free(ctx)

    def two_call(self, call: Any, ctx: Any, data: bytes, what: str) -> bytes:
        """EVP_PKEY_sign/encrypt/decrypt: ask the size, then fill a buffer of that size."""
        size = self.ffi.new("size_t *")
        self.check(call(ctx, self.ffi.NULL, size, data, len(data)), what)
        out = self.ffi.new("unsigned char[]", size[0])
        self.check(call(ctx, out, size, data, len(data)), what)
        return bytes(self.ffi.buffer(out, size[0]))

    def i2d(self, call: Any, obj: Any, what: str) -> bytes:
        """DER from an ``i2d_*`` function (length first, then into our own buffer)."""
        length = call(obj, self.ffi.NULL)
        if length <= 0:
            raise self.fail(what)
        buf = self.ffi.new("unsigned char[]", length)
        call(obj, self.ffi.new("unsigned char **", buf))
        return bytes(self.ffi.buffer(buf, length))

    def d2i(self, call: Any, der: bytes, what: str) -> Any:
        """An object from a ``d2i_*`` function; the caller owns it (EVP_PKEY_free)."""
        source = self.ffi.from_buffer(der)
        cursor = self.ffi.new("const unsigned char **", source)
        obj = call(self.ffi.NULL, cursor, len(der))
        if obj == self.ffi.NULL:
            raise self.fail(what)
        return obj


def _candidates() -> list[str]:
    configured = os.environ.get(LIBCRYPTO_ENV)
    if configured:
        return [configured]
    found = ctypes.util.find_library("crypto")
    return [name for name in ("libcrypto.so.3", found) if name]


@functools.cache
def libcrypto() -> Libcrypto:
    """The process's one binding to libcrypto (loaded on first use)."""
    problems: list[str] = []
    for path in _candidates():
        try:
            return Libcrypto(path)
        except ModuleLoadError as exc:
            problems.append(str(exc))
    raise ModuleLoadError(
        "SM2 needs OpenSSL 3's libcrypto (Debian package libssl3): " + ("; ".join(problems) or "not found")
    )
