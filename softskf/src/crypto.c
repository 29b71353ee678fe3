/* SM2, SM3, SM4 and the SKF blob layouts over OpenSSL 3's libcrypto. */
#include <pthread.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/asn1.h>
#include <openssl/x509.h>

#include "internal.h"

ULONG random_bytes(unsigned char *p, size_t n)
{
    return RAND_bytes(p, (int)n) == 1 ? SAR_OK : SAR_GENRANDERR;
}

int ct_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

static ULONG sm3(const void *a, size_t na, const void *b, size_t nb, unsigned char out[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int len = 32;
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sm3(), NULL) && EVP_DigestUpdate(ctx, a, na) &&
             EVP_DigestUpdate(ctx, b, nb) && EVP_DigestFinal_ex(ctx, out, &len);
    EVP_MD_CTX_free(ctx);
    return ok ? SAR_OK : SAR_HASHERR;
}

ULONG pin_hash(const unsigned char salt[16], const char *pin, size_t n, unsigned char out[32])
{
    return sm3(salt, 16, pin, n, out);
}

/* ---- SM2 keys: a 32-byte private scalar, a 64-byte public X || Y ---- */

/* One SM2 group for the process: building it costs more than a signature. Only read after. */
static EC_GROUP *group;
static pthread_once_t group_once = PTHREAD_ONCE_INIT;

static void group_init(void)
{
    group = EC_GROUP_new_by_curve_name(NID_sm2);
}

static const EC_GROUP *sm2_group(void)
{
    pthread_once(&group_once, group_init);
    return group;
}

ULONG sm2_public_of(const unsigned char priv[32], unsigned char pub[64])
{
    const EC_GROUP *g = sm2_group();
    EC_POINT *p = g ? EC_POINT_new(g) : NULL;
    BIGNUM *d = BN_bin2bn(priv, 32, NULL);
    unsigned char oct[65];
    int ok = p && d && !BN_is_zero(d) && BN_cmp(d, EC_GROUP_get0_order(g)) < 0 &&
             EC_POINT_mul(g, p, d, NULL, NULL, NULL) &&
             EC_POINT_point2oct(g, p, POINT_CONVERSION_UNCOMPRESSED, oct, sizeof oct, NULL) == 65;
    if (ok)
        memcpy(pub, oct + 1, 64);
    BN_clear_free(d);
    EC_POINT_free(p);
    return ok ? SAR_OK : SAR_KEYINFOTYPEERR;
}

/* Builds an EVP_PKEY of type SM2 from a public key and, when given, the private scalar. */
static EVP_PKEY *sm2_pkey(const unsigned char pub[64], const unsigned char *priv)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "SM2", NULL);
    EVP_PKEY *pkey = NULL;
    BIGNUM *d = priv ? BN_bin2bn(priv, 32, NULL) : NULL;
    unsigned char oct[65];
    oct[0] = 0x04;
    memcpy(oct + 1, pub, 64);
    if (bld && ctx && (!priv || d) &&
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "SM2", 0) &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, oct, sizeof oct) &&
        (!d || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d)) &&
        (params = OSSL_PARAM_BLD_to_param(bld)) && EVP_PKEY_fromdata_init(ctx) > 0)
        EVP_PKEY_fromdata(ctx, &pkey, d ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    BN_clear_free(d);
    return pkey;
}

/* Recently used private keys, ready to sign: deriving the public point and building the key
 * cost several signatures' worth on the SM2 curve (OpenSSL 3.0 has no fast code for it). */
#define KEY_CACHE 16
static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    unsigned char priv[32];
    EVP_PKEY *pkey;
} cache[KEY_CACHE];
static unsigned cache_next;

static EVP_PKEY *cache_find(const unsigned char priv[32])
{
    EVP_PKEY *found = NULL;
    pthread_mutex_lock(&cache_mu);
    for (int i = 0; i < KEY_CACHE && !found; i++)
        if (cache[i].pkey && CRYPTO_memcmp(cache[i].priv, priv, 32) == 0 && EVP_PKEY_up_ref(cache[i].pkey))
            found = cache[i].pkey;
    pthread_mutex_unlock(&cache_mu);
    return found;
}

static void cache_put(const unsigned char priv[32], EVP_PKEY *pkey)
{
    pthread_mutex_lock(&cache_mu);
    unsigned i = cache_next++ % KEY_CACHE;
    EVP_PKEY_free(cache[i].pkey);
    cache[i].pkey = EVP_PKEY_up_ref(pkey) ? pkey : NULL;
    memcpy(cache[i].priv, priv, 32);
    pthread_mutex_unlock(&cache_mu);
}

static EVP_PKEY *sm2_private(const unsigned char priv[32])
{
    unsigned char pub[64];
    EVP_PKEY *pkey = cache_find(priv);
    if (pkey)
        return pkey;
    pkey = sm2_public_of(priv, pub) == SAR_OK ? sm2_pkey(pub, priv) : NULL;
    if (pkey)
        cache_put(priv, pkey);
    return pkey;
}

/* The library's keys leave memory with it. */
__attribute__((destructor)) static void cache_clear(void)
{
    for (int i = 0; i < KEY_CACHE; i++) {
        EVP_PKEY_free(cache[i].pkey);
        cache[i].pkey = NULL;
        OPENSSL_cleanse(cache[i].priv, 32);
    }
}

/* A public point must lie on the curve: checked before any use of a caller's key. */
static EVP_PKEY *sm2_public(const unsigned char pub[64])
{
    const EC_GROUP *g = sm2_group();
    EC_POINT *p = g ? EC_POINT_new(g) : NULL;
    unsigned char oct[65];
    int ok;
    oct[0] = 0x04;
    memcpy(oct + 1, pub, 64);
    ok = p && EC_POINT_oct2point(g, p, oct, sizeof oct, NULL) && EC_POINT_is_on_curve(g, p, NULL) == 1 &&
         !EC_POINT_is_at_infinity(g, p);
    EC_POINT_free(p);
    return ok ? sm2_pkey(pub, NULL) : NULL;
}

ULONG sm2_generate(unsigned char priv[32], unsigned char pub[64])
{
    const EC_GROUP *g = sm2_group();
    BIGNUM *d = BN_new();
    ULONG rv = SAR_FAIL;
    /* d in [1, n-2], as GM/T 0003 asks, so that 1 + d is invertible. */
    BIGNUM *max = g ? BN_dup(EC_GROUP_get0_order(g)) : NULL;
    if (d && max && BN_sub_word(max, 2) && BN_priv_rand_range(d, max) && BN_add_word(d, 1) &&
        BN_bn2binpad(d, priv, 32) == 32)
        rv = sm2_public_of(priv, pub);
    BN_clear_free(d);
    BN_free(max);
    return rv;
}

ULONG sm2_sign(const unsigned char priv[32], const unsigned char e[32], unsigned char r[32],
               unsigned char s[32])
{
    EVP_PKEY *pkey = sm2_private(priv);
    EVP_PKEY_CTX *ctx = pkey ? EVP_PKEY_CTX_new(pkey, NULL) : NULL;
    unsigned char der[80];
    const unsigned char *q = der;
    size_t len = sizeof der;
    ECDSA_SIG *sig = NULL;
    ULONG rv = SAR_FAIL;
    /* The SM2 pkey method signs its input as the digest e, which is what SKF hands in. */
    if (ctx && EVP_PKEY_sign_init(ctx) > 0 && EVP_PKEY_sign(ctx, der, &len, e, 32) > 0 &&
        (sig = d2i_ECDSA_SIG(NULL, &q, (long)len)) &&
        BN_bn2binpad(ECDSA_SIG_get0_r(sig), r, 32) == 32 &&
        BN_bn2binpad(ECDSA_SIG_get0_s(sig), s, 32) == 32)
        rv = SAR_OK;
    ECDSA_SIG_free(sig);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    return rv;
}

ULONG sm2_verify(const unsigned char pub[64], const unsigned char e[32], const unsigned char r[32],
                 const unsigned char s[32])
{
    EVP_PKEY *pkey = sm2_public(pub);
    EVP_PKEY_CTX *ctx = pkey ? EVP_PKEY_CTX_new(pkey, NULL) : NULL;
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *br = BN_bin2bn(r, 32, NULL), *bs = BN_bin2bn(s, 32, NULL);
    unsigned char *der = NULL;
    int len = -1, ok = 0;
    if (!pkey) {
        ECDSA_SIG_free(sig);
        BN_free(br);
        BN_free(bs);
        return SAR_INVALIDPARAMERR;
    }
    if (sig && br && bs && ECDSA_SIG_set0(sig, br, bs)) {
        br = bs = NULL;
        len = i2d_ECDSA_SIG(sig, &der);
    }
    if (ctx && len > 0 && EVP_PKEY_verify_init(ctx) > 0)
        ok = EVP_PKEY_verify(ctx, der, (size_t)len, e, 32) == 1;
    OPENSSL_free(der);
    BN_free(br);
    BN_free(bs);
    ECDSA_SIG_free(sig);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    return ok ? SAR_OK : SAR_FAIL;
}

/* ---- SM2 encryption: OpenSSL speaks the GM/T 0009 DER form, SKF the C1/C3/C2 blob ---- */

static int der_int32(const ASN1_TYPE *t, unsigned char out[32])
{
    BIGNUM *bn;
    int ok;
    if (!t || t->type != V_ASN1_INTEGER)
        return 0;
    bn = ASN1_INTEGER_to_BN(t->value.integer, NULL);
    ok = bn && !BN_is_negative(bn) && BN_bn2binpad(bn, out, 32) == 32;
    BN_free(bn);
    return ok;
}

static int der_octets(const ASN1_TYPE *t, unsigned char *out, size_t n)
{
    if (!t || t->type != V_ASN1_OCTET_STRING || (size_t)ASN1_STRING_length(t->value.octet_string) != n)
        return 0;
    memcpy(out, ASN1_STRING_get0_data(t->value.octet_string), n);
    return 1;
}

static ULONG cipher_from_der(const unsigned char *der, size_t len, size_t n, unsigned char c1[64],
                             unsigned char c3[32], unsigned char *c2)
{
    const unsigned char *q = der;
    STACK_OF(ASN1_TYPE) *seq = d2i_ASN1_SEQUENCE_ANY(NULL, &q, (long)len);
    int ok = seq && sk_ASN1_TYPE_num(seq) == 4 && der_int32(sk_ASN1_TYPE_value(seq, 0), c1) &&
             der_int32(sk_ASN1_TYPE_value(seq, 1), c1 + 32) &&
             der_octets(sk_ASN1_TYPE_value(seq, 2), c3, 32) &&
             der_octets(sk_ASN1_TYPE_value(seq, 3), c2, n);
    sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
    return ok ? SAR_OK : SAR_FAIL;
}

static ASN1_TYPE *der_int_of(const unsigned char v[32])
{
    BIGNUM *bn = BN_bin2bn(v, 32, NULL);
    ASN1_INTEGER *i = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    ASN1_TYPE *t = i ? ASN1_TYPE_new() : NULL;
    BN_free(bn);
    if (t)
        ASN1_TYPE_set(t, V_ASN1_INTEGER, i);
    else
        ASN1_INTEGER_free(i);
    return t;
}

static ASN1_TYPE *der_octets_of(const unsigned char *p, size_t n)
{
    ASN1_OCTET_STRING *o = ASN1_OCTET_STRING_new();
    ASN1_TYPE *t = NULL;
    if (o && ASN1_OCTET_STRING_set(o, p, (int)n) && (t = ASN1_TYPE_new()))
        ASN1_TYPE_set(t, V_ASN1_OCTET_STRING, o);
    else
        ASN1_OCTET_STRING_free(o);
    return t;
}

static int cipher_to_der(const unsigned char c1[64], const unsigned char c3[32],
                         const unsigned char *c2, size_t n, unsigned char **der)
{
    STACK_OF(ASN1_TYPE) *seq = sk_ASN1_TYPE_new_null();
    ASN1_TYPE *parts[4] = {der_int_of(c1), der_int_of(c1 + 32), der_octets_of(c3, 32),
                           der_octets_of(c2, n)};
    int len = -1, ok = seq != NULL;
    for (int i = 0; i < 4; i++) {
        if (ok && parts[i] && sk_ASN1_TYPE_push(seq, parts[i]))
            continue;
        ok = 0;
        ASN1_TYPE_free(parts[i]);
    }
    if (ok)
        len = i2d_ASN1_SEQUENCE_ANY(seq, der);
    sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
    return len;
}

ULONG sm2_encrypt(const unsigned char pub[64], const unsigned char *in, size_t n,
                  unsigned char c1[64], unsigned char c3[32], unsigned char *c2)
{
    EVP_PKEY *pkey = sm2_public(pub);
    EVP_PKEY_CTX *ctx = pkey ? EVP_PKEY_CTX_new(pkey, NULL) : NULL;
    unsigned char *der = NULL;
    size_t len = 0;
    ULONG rv = pkey ? SAR_FAIL : SAR_INVALIDPARAMERR;
    if (ctx && EVP_PKEY_encrypt_init(ctx) > 0 && EVP_PKEY_encrypt(ctx, NULL, &len, in, n) > 0 &&
        (der = OPENSSL_malloc(len)) && EVP_PKEY_encrypt(ctx, der, &len, in, n) > 0)
        rv = cipher_from_der(der, len, n, c1, c3, c2);
    OPENSSL_free(der);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    return rv;
}

ULONG sm2_decrypt(const unsigned char priv[32], const unsigned char c1[64],
                  const unsigned char c3[32], const unsigned char *c2, size_t n,
                  unsigned char *out)
{
    EVP_PKEY *pkey = sm2_private(priv);
    EVP_PKEY_CTX *ctx = pkey ? EVP_PKEY_CTX_new(pkey, NULL) : NULL;
    unsigned char *der = NULL, *plain = NULL;
    int len = cipher_to_der(c1, c3, c2, n, &der);
    size_t outlen = 0;
    ULONG rv = SAR_FAIL;
    /* OpenSSL checks C1 is on the curve and C3 matches; any failure is one answer. */
    if (ctx && len > 0 && EVP_PKEY_decrypt_init(ctx) > 0 &&
        EVP_PKEY_decrypt(ctx, NULL, &outlen, der, (size_t)len) > 0 && (plain = OPENSSL_malloc(outlen)) &&
        EVP_PKEY_decrypt(ctx, plain, &outlen, der, (size_t)len) > 0 && outlen == n) {
        memcpy(out, plain, n);
        rv = SAR_OK;
    }
    if (plain)
        OPENSSL_clear_free(plain, n);
    OPENSSL_free(der);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    return rv;
}

ULONG sm4_ecb(int enc, const unsigned char key[16], const unsigned char *in, size_t n,
              unsigned char *out)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int l1 = 0, l2 = 0;
    int ok = n % 16 == 0 && ctx && EVP_CipherInit_ex(ctx, EVP_sm4_ecb(), NULL, key, NULL, enc) &&
             EVP_CIPHER_CTX_set_padding(ctx, 0) && EVP_CipherUpdate(ctx, out, &l1, in, (int)n) &&
             EVP_CipherFinal_ex(ctx, out + l1, &l2) && (size_t)(l1 + l2) == n;
    EVP_CIPHER_CTX_free(ctx);
    return ok ? SAR_OK : SAR_FAIL;
}

/* Z = SM3(ENTL || ID || a || b || xG || yG || xA || yA), GM/T 0009 with ENTL in bits. */
ULONG sm3_z(const unsigned char pub[64], const unsigned char *id, size_t id_len,
            unsigned char z[32])
{
    static const unsigned char curve[128] = {
        /* a */ 0xFF, 0xFF, 0xFF, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFC,
        /* b */ 0x28, 0xE9, 0xFA, 0x9E, 0x9D, 0x9F, 0x5E, 0x34, 0x4D, 0x5A, 0x9E, 0x4B, 0xCF, 0x65, 0x09,
        0xA7, 0xF3, 0x97, 0x89, 0xF5, 0x15, 0xAB, 0x8F, 0x92, 0xDD, 0xBC, 0xBD, 0x41, 0x4D, 0x94, 0x0E,
        0x93,
        /* xG */ 0x32, 0xC4, 0xAE, 0x2C, 0x1F, 0x19, 0x81, 0x19, 0x5F, 0x99, 0x04, 0x46, 0x6A, 0x39, 0xC9,
        0x94, 0x8F, 0xE3, 0x0B, 0xBF, 0xF2, 0x66, 0x0B, 0xE1, 0x71, 0x5A, 0x45, 0x89, 0x33, 0x4C, 0x74,
        0xC7,
        /* yG */ 0xBC, 0x37, 0x36, 0xA2, 0xF4, 0xF6, 0x77, 0x9C, 0x59, 0xBD, 0xCE, 0xE3, 0x6B, 0x69, 0x21,
        0x53, 0xD0, 0xA9, 0x87, 0x7C, 0xC6, 0x2A, 0x47, 0x40, 0x02, 0xDF, 0x32, 0xE5, 0x21, 0x39, 0xF0,
        0xA0};
    unsigned char head[2 + 8191 / 8];
    unsigned char tail[192];
    if (id_len > 8191 / 8)
        return SAR_INDATALENERR;
    head[0] = (unsigned char)((id_len * 8) >> 8);
    head[1] = (unsigned char)(id_len * 8);
    memcpy(head + 2, id, id_len);
    memcpy(tail, curve, 128);
    memcpy(tail + 128, pub, 64);
    return sm3(head, 2 + id_len, tail, sizeof tail, z);
}

/* ---- SKF blobs: 32-byte values right-aligned in 64-byte fields, 32 leading zeros ---- */

static int zero32(const unsigned char *p)
{
    static const unsigned char z[32];
    return memcmp(p, z, 32) == 0;
}

ULONG ecc_pub_to_blob(const unsigned char pub[64], ECCPUBLICKEYBLOB *b)
{
    memset(b, 0, sizeof *b);
    b->BitLen = 256;
    memcpy(b->XCoordinate + 32, pub, 32);
    memcpy(b->YCoordinate + 32, pub + 32, 32);
    return SAR_OK;
}

ULONG ecc_pub_from_blob(const ECCPUBLICKEYBLOB *b, unsigned char pub[64])
{
    if (b->BitLen != 256 || !zero32(b->XCoordinate) || !zero32(b->YCoordinate))
        return SAR_INVALIDPARAMERR;
    memcpy(pub, b->XCoordinate + 32, 32);
    memcpy(pub + 32, b->YCoordinate + 32, 32);
    return SAR_OK;
}

ULONG ecc_priv_from_blob(const ECCPRIVATEKEYBLOB *b, unsigned char priv[32])
{
    unsigned char pub[64];
    if (b->BitLen != 256 || !zero32(b->PrivateKey))
        return SAR_INVALIDPARAMERR;
    memcpy(priv, b->PrivateKey + 32, 32);
    return sm2_public_of(priv, pub) == SAR_OK ? SAR_OK : SAR_INVALIDPARAMERR;
}

/* Decrypts a checked ECCCIPHERBLOB (see ecc_cipher_size) into CipherLen bytes at `out`. */
ULONG sm2_decrypt_blob(const unsigned char priv[32], const ECCCIPHERBLOB *blob, unsigned char *out)
{
    unsigned char c1[64];
    memcpy(c1, blob->XCoordinate + 32, 32);
    memcpy(c1 + 32, blob->YCoordinate + 32, 32);
    return sm2_decrypt(priv, c1, blob->HASH, blob->Cipher, blob->CipherLen, out);
}

/* Checks an ECCCIPHERBLOB from a caller: C1 right-aligned, a plausible CipherLen. */
ULONG ecc_cipher_size(const ECCCIPHERBLOB *c, size_t *n)
{
    if (!zero32(c->XCoordinate) || !zero32(c->YCoordinate))
        return SAR_INVALIDPARAMERR;
    if (c->CipherLen == 0 || c->CipherLen > SK_MAX_ECC_BUFFER)
        return SAR_INDATALENERR;
    *n = c->CipherLen;
    return SAR_OK;
}
