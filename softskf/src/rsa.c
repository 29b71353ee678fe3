/* RSA over libcrypto: stored keys are DER RSAPrivateKey; blobs hold big-endian right-aligned fields. */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "internal.h"

static EVP_PKEY *from_der(const sk_buf *der)
{
    const unsigned char *q = der->p;
    return d2i_PrivateKey(EVP_PKEY_RSA, NULL, &q, (long)der->n);
}

/* Moves DER from OpenSSL's allocator into an sk_buf (freed with free() and wiped). */
static ULONG keep_der(unsigned char *out, int len, sk_buf *der, ULONG fail)
{
    ULONG rv = len > 0 && buf_set(der, out, (size_t)len) == 0 ? SAR_OK : fail;
    if (len > 0)
        OPENSSL_clear_free(out, (size_t)len);
    return rv;
}

ULONG rsa_generate(uint32_t bits, sk_buf *der)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    EVP_PKEY *pkey = NULL;
    unsigned char *out = NULL;
    int len = -1;
    if (ctx && EVP_PKEY_keygen_init(ctx) > 0 && EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, (int)bits) > 0 &&
        EVP_PKEY_keygen(ctx, &pkey) > 0)
        len = i2d_PrivateKey(pkey, &out);
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(ctx);
    return keep_der(out, len, der, SAR_GENRSAKEYERR);
}

static int put_bn(EVP_PKEY *pkey, const char *name, unsigned char *field, size_t cap)
{
    BIGNUM *bn = NULL;
    int ok = EVP_PKEY_get_bn_param(pkey, name, &bn) && BN_bn2binpad(bn, field, (int)cap) == (int)cap;
    BN_clear_free(bn);
    return ok;
}

static ULONG fill_pub(EVP_PKEY *pkey, RSAPUBLICKEYBLOB *blob)
{
    memset(blob, 0, sizeof *blob);
    blob->AlgID = SGD_RSA;
    blob->BitLen = (ULONG)EVP_PKEY_get_bits(pkey);
    if (blob->BitLen > 8 * MAX_RSA_MODULUS_LEN)
        return SAR_MODULUSLENERR;
    return put_bn(pkey, OSSL_PKEY_PARAM_RSA_N, blob->Modulus, sizeof blob->Modulus) &&
                   put_bn(pkey, OSSL_PKEY_PARAM_RSA_E, blob->PublicExponent, sizeof blob->PublicExponent)
               ? SAR_OK
               : SAR_FAIL;
}

ULONG rsa_pub_blob(const sk_buf *der, RSAPUBLICKEYBLOB *blob)
{
    EVP_PKEY *pkey = from_der(der);
    ULONG rv = pkey ? fill_pub(pkey, blob) : SAR_KEYINFOTYPEERR;
    EVP_PKEY_free(pkey);
    return rv;
}

/* A field of the blob as a BIGNUM pushed into the builder. */
static int push(OSSL_PARAM_BLD *bld, const char *name, const unsigned char *p, size_t n, BIGNUM **keep)
{
    BIGNUM *bn = BN_bin2bn(p, (int)n, NULL);
    if (!bn || !OSSL_PARAM_BLD_push_BN(bld, name, bn)) {
        BN_free(bn);
        return 0;
    }
    *keep = bn;
    return 1;
}

/* Builds a key from blob fields; `priv` is NULL for a public key. */
static EVP_PKEY *from_blob(const RSAPUBLICKEYBLOB *pub, const RSAPRIVATEKEYBLOB *priv)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    OSSL_PARAM *params = NULL;
    EVP_PKEY *pkey = NULL;
    BIGNUM *bn[8] = {0};
    const size_t h = MAX_RSA_MODULUS_LEN / 2;
    int ok = bld && ctx && pub->BitLen == 2048 &&
             push(bld, OSSL_PKEY_PARAM_RSA_N, pub->Modulus, MAX_RSA_MODULUS_LEN, &bn[0]) &&
             push(bld, OSSL_PKEY_PARAM_RSA_E, pub->PublicExponent, MAX_RSA_EXPONENT_LEN, &bn[1]);
    if (ok && priv)
        ok = push(bld, OSSL_PKEY_PARAM_RSA_D, priv->PrivateExponent, MAX_RSA_MODULUS_LEN, &bn[2]) &&
             push(bld, OSSL_PKEY_PARAM_RSA_FACTOR1, priv->Prime1, h, &bn[3]) &&
             push(bld, OSSL_PKEY_PARAM_RSA_FACTOR2, priv->Prime2, h, &bn[4]) &&
             push(bld, OSSL_PKEY_PARAM_RSA_EXPONENT1, priv->Prime1Exponent, h, &bn[5]) &&
             push(bld, OSSL_PKEY_PARAM_RSA_EXPONENT2, priv->Prime2Exponent, h, &bn[6]) &&
             push(bld, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, priv->Coefficient, h, &bn[7]);
    if (ok && (params = OSSL_PARAM_BLD_to_param(bld)) && EVP_PKEY_fromdata_init(ctx) > 0)
        EVP_PKEY_fromdata(ctx, &pkey, priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params);
    if (pkey && (size_t)EVP_PKEY_get_bits(pkey) != pub->BitLen) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    for (int i = 0; i < 8; i++)
        BN_clear_free(bn[i]);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}

/* One EVP_PKEY operation with a padding mode; op is sign, verify-recover, encrypt or decrypt. */
enum rsa_op { OP_SIGN, OP_ENCRYPT, OP_DECRYPT };

static ULONG run(EVP_PKEY *pkey, enum rsa_op op, int padding, const unsigned char *in, size_t n,
                 unsigned char *out, size_t *out_len)
{
    EVP_PKEY_CTX *ctx = pkey ? EVP_PKEY_CTX_new(pkey, NULL) : NULL;
    int ok = 0;
    if (!pkey)
        return SAR_KEYINFOTYPEERR;
    if (ctx && op == OP_SIGN)
        ok = EVP_PKEY_sign_init(ctx) > 0 && EVP_PKEY_CTX_set_rsa_padding(ctx, padding) > 0 &&
             EVP_PKEY_sign(ctx, out, out_len, in, n) > 0;
    else if (ctx && op == OP_ENCRYPT)
        ok = EVP_PKEY_encrypt_init(ctx) > 0 && EVP_PKEY_CTX_set_rsa_padding(ctx, padding) > 0 &&
             EVP_PKEY_encrypt(ctx, out, out_len, in, n) > 0;
    else if (ctx)
        ok = EVP_PKEY_decrypt_init(ctx) > 0 && EVP_PKEY_CTX_set_rsa_padding(ctx, padding) > 0 &&
             EVP_PKEY_decrypt(ctx, out, out_len, in, n) > 0;
    EVP_PKEY_CTX_free(ctx);
    return ok ? SAR_OK : op == OP_DECRYPT ? SAR_RSADECERR : SAR_RSAENCERR;
}

ULONG rsa_sign(const sk_buf *der, const unsigned char *in, size_t n, unsigned char *sig, size_t *sig_len)
{
    EVP_PKEY *pkey = from_der(der);
    ULONG rv = run(pkey, OP_SIGN, RSA_PKCS1_PADDING, in, n, sig, sig_len);
    EVP_PKEY_free(pkey);
    return rv;
}

ULONG rsa_private_decrypt(const sk_buf *der, const unsigned char *in, size_t n, unsigned char *out,
                          size_t *out_len)
{
    unsigned char tmp[MAX_RSA_MODULUS_LEN];
    size_t len = sizeof tmp;
    EVP_PKEY *pkey = from_der(der);
    ULONG rv = run(pkey, OP_DECRYPT, RSA_PKCS1_PADDING, in, n, tmp, &len);
    EVP_PKEY_free(pkey);
    if (rv == SAR_OK && len > *out_len)
        rv = SAR_RSADECERR;
    if (rv == SAR_OK) {
        memcpy(out, tmp, len);
        *out_len = len;
    }
    wipe(tmp, sizeof tmp);
    return rv;
}

/* Verifies a PKCS#1 v1.5 signature over the raw data (the SKF caller formats DigestInfo itself). */
ULONG rsa_verify_blob(const RSAPUBLICKEYBLOB *blob, const unsigned char *data, size_t n,
                      const unsigned char *sig, size_t sig_len)
{
    EVP_PKEY *pkey = from_blob(blob, NULL);
    EVP_PKEY_CTX *ctx = pkey ? EVP_PKEY_CTX_new(pkey, NULL) : NULL;
    unsigned char rec[MAX_RSA_MODULUS_LEN];
    size_t len = sizeof rec;
    ULONG rv = pkey ? SAR_RSAENCERR : SAR_INVALIDPARAMERR;
    if (ctx && EVP_PKEY_verify_recover_init(ctx) > 0 && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0)
        rv = EVP_PKEY_verify_recover(ctx, rec, &len, sig, sig_len) > 0 && len == n && ct_equal(rec, data, n)
                 ? SAR_OK
                 : SAR_RSAENCERR;
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    return rv;
}

/* Public-key encryption with a caller's key: raw (pkcs1 = 0) or PKCS#1 v1.5 (pkcs1 = 1). */
ULONG rsa_pub_op(const RSAPUBLICKEYBLOB *blob, int pkcs1, const unsigned char *in, size_t n, unsigned char *out,
                 size_t *out_len)
{
    EVP_PKEY *pkey = from_blob(blob, NULL);
    int padding = pkcs1 ? RSA_PKCS1_PADDING : RSA_NO_PADDING;
    ULONG rv = pkey ? run(pkey, OP_ENCRYPT, padding, in, n, out, out_len) : SAR_INVALIDPARAMERR;
    EVP_PKEY_free(pkey);
    return rv;
}

ULONG rsa_priv_op(const RSAPRIVATEKEYBLOB *blob, const unsigned char *in, size_t n, unsigned char *out,
                  size_t *out_len)
{
    EVP_PKEY *pkey = from_blob((const RSAPUBLICKEYBLOB *)blob, blob);
    ULONG rv = pkey ? run(pkey, OP_DECRYPT, RSA_NO_PADDING, in, n, out, out_len) : SAR_INVALIDPARAMERR;
    EVP_PKEY_free(pkey);
    return rv;
}

static ULONG fill_priv(EVP_PKEY *pkey, RSAPRIVATEKEYBLOB *b)
{
    const size_t h = MAX_RSA_MODULUS_LEN / 2;
    ULONG rv = fill_pub(pkey, (RSAPUBLICKEYBLOB *)b);
    if (rv != SAR_OK)
        return rv;
    return put_bn(pkey, OSSL_PKEY_PARAM_RSA_D, b->PrivateExponent, MAX_RSA_MODULUS_LEN) &&
                   put_bn(pkey, OSSL_PKEY_PARAM_RSA_FACTOR1, b->Prime1, h) &&
                   put_bn(pkey, OSSL_PKEY_PARAM_RSA_FACTOR2, b->Prime2, h) &&
                   put_bn(pkey, OSSL_PKEY_PARAM_RSA_EXPONENT1, b->Prime1Exponent, h) &&
                   put_bn(pkey, OSSL_PKEY_PARAM_RSA_EXPONENT2, b->Prime2Exponent, h) &&
                   put_bn(pkey, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, b->Coefficient, h)
               ? SAR_OK
               : SAR_FAIL;
}

ULONG rsa_ext_generate(uint32_t bits, RSAPRIVATEKEYBLOB *blob)
{
    sk_buf der = {0};
    ULONG rv = rsa_generate(bits, &der);
    EVP_PKEY *pkey = rv == SAR_OK ? from_der(&der) : NULL;
    if (rv == SAR_OK)
        rv = pkey ? fill_priv(pkey, blob) : SAR_GENRSAKEYERR;
    EVP_PKEY_free(pkey);
    buf_free(&der);
    return rv;
}

ULONG rsa_der_from_priv_blob(const RSAPRIVATEKEYBLOB *blob, sk_buf *der)
{
    EVP_PKEY *pkey = from_blob((const RSAPUBLICKEYBLOB *)blob, blob);
    EVP_PKEY_CTX *ctx = pkey ? EVP_PKEY_CTX_new(pkey, NULL) : NULL;
    unsigned char *out = NULL;
    int len = -1;
    /* A blob whose parts do not make one key is refused rather than stored. */
    if (ctx && EVP_PKEY_pairwise_check(ctx) == 1)
        len = i2d_PrivateKey(pkey, &out);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    return keep_der(out, len, der, SAR_INDATAERR);
}
