/* Spec 7.6, the container's own keys: SM2 and RSA generation, signing, enveloped import, decryption. */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The container's type is fixed by its first key. */
static ULONG claim_type(sk_cont *cont, uint32_t type)
{
    if (cont->type != CONTAINER_EMPTY && cont->type != type)
        return SAR_KEYUSAGEERR;
    cont->type = type;
    return SAR_OK;
}

static ULONG ecc_key(sk_cont *cont, int sign, const unsigned char **priv)
{
    const sk_buf *k = sign ? &cont->sign_key : &cont->enc_key;
    if (cont->type != CONTAINER_ECC || k->n != 32)
        return SAR_KEYNOTFOUNTERR;
    *priv = k->p;
    return SAR_OK;
}

/* A new SM2 signing pair; the public half goes out once the pair is stored. */
typedef struct {
    unsigned char priv[32], pub[64];
} ecc_pair;

static ULONG gen_ecc(sk_view *v, void *arg)
{
    ecc_pair *k = arg;
    ULONG rv;
    if ((rv = claim_type(v->cont, CONTAINER_ECC)) != SAR_OK || (rv = sm2_generate(k->priv, k->pub)) != SAR_OK)
        return rv;
    return buf_set(&v->cont->sign_key, k->priv, 32) ? SAR_MEMORYERR : SAR_OK;
}

ULONG SKF_GenECCKeyPair(HCONTAINER hContainer, ULONG ulAlgId, ECCPUBLICKEYBLOB *pBlob)
{
    ecc_pair k;
    ULONG rv;
    CONT(hContainer, c);
    if (!pBlob)
        return SAR_INVALIDPARAMERR;
    if (ulAlgId != alg_sm2_1())
        return SAR_NOTSUPPORTYETERR;
    if ((rv = key_run(c, 1, gen_ecc, &k)) == SAR_OK)
        ecc_pub_to_blob(k.pub, pBlob);
    wipe(k.priv, sizeof k.priv);
    return rv;
}

/* An operation with the container's SM2 key: what goes in, where the result goes. */
typedef struct {
    const BYTE *in;
    void *out;
    ULONG *out_len;
    size_t n; /* ECCDecrypt: the plaintext's length */
    unsigned char *plain;
} ecc_io;

static ULONG sign_ecc(sk_view *v, void *arg)
{
    ecc_io *io = arg;
    ECCSIGNATUREBLOB *sig = io->out;
    const unsigned char *priv;
    ULONG rv = ecc_key(v->cont, 1, &priv);
    if (rv != SAR_OK)
        return rv;
    memset(sig, 0, sizeof *sig);
    return sm2_sign(priv, io->in, sig->r + 32, sig->s + 32);
}

ULONG SKF_ECCSignData(HCONTAINER hContainer, BYTE *pbDigest, ULONG ulDigestLen,
                      ECCSIGNATUREBLOB *pSignature)
{
    ecc_io io = {pbDigest, pSignature, NULL, 0, NULL};
    CONT(hContainer, c);
    if (!pbDigest || !pSignature)
        return SAR_INVALIDPARAMERR;
    if (ulDigestLen != 32) /* the input is e = SM3(Z || M); the token does not hash */
        return SAR_INDATALENERR;
    return key_run(c, 0, sign_ecc, &io);
}

/* Opens the envelope of section 7 of SKF.md: K = SM2-decrypt(d_s, blob), d_e = SM4-ECB_K(...). */
static ULONG open_envelope(const unsigned char *sign_priv, const ENVELOPEDKEYBLOB *env,
                           unsigned char d_e[32])
{
    unsigned char k[16], plain[64], pub[64], derived[64];
    ULONG rv;
    if (env->Version != 1 || env->ulBits != 256)
        return SAR_INVALIDPARAMERR;
    if (env->ulSymmAlgID != SGD_SM4_ECB)
        return SAR_NOTSUPPORTYETERR;
    if (env->ECCCipherBlob.CipherLen != 16)
        return SAR_INDATALENERR;
    if ((rv = ecc_pub_from_blob(&env->PubKey, pub)) != SAR_OK)
        return rv;
    if (sm2_decrypt_blob(sign_priv, &env->ECCCipherBlob, k) != SAR_OK)
        return SAR_INDATAERR;
    rv = sm4_ecb(0, k, env->cbEncryptedPriKey, 64, plain);
    /* Tokens keep the last 32 bytes: E(0^32 || d) and a 32-byte E(d) at offset 32 agree there. */
    if (rv == SAR_OK && sm2_public_of(plain + 32, derived) == SAR_OK && ct_equal(derived, pub, 64))
        memcpy(d_e, plain + 32, 32);
    else
        rv = SAR_INDATAERR;
    wipe(k, sizeof k);
    wipe(plain, sizeof plain);
    return rv;
}

typedef struct {
    const ENVELOPEDKEYBLOB *env;
    unsigned char d_e[32];
} ecc_import;

static ULONG import_ecc(sk_view *v, void *arg)
{
    ecc_import *im = arg;
    const unsigned char *sign_priv;
    ULONG rv;
    if ((rv = ecc_key(v->cont, 1, &sign_priv)) != SAR_OK || (rv = open_envelope(sign_priv, im->env, im->d_e)) != SAR_OK)
        return rv;
    return buf_set(&v->cont->enc_key, im->d_e, 32) ? SAR_MEMORYERR : SAR_OK;
}

ULONG SKF_ImportECCKeyPair(HCONTAINER hContainer, ENVELOPEDKEYBLOB *pEnvelopedKeyBlob)
{
    ecc_import im = {pEnvelopedKeyBlob, {0}};
    ULONG rv;
    CONT(hContainer, c);
    if (!pEnvelopedKeyBlob)
        return SAR_INVALIDPARAMERR;
    rv = key_run(c, 1, import_ecc, &im);
    wipe(im.d_e, sizeof im.d_e);
    return rv;
}

/* Vendor extra: decrypt an SM2 ciphertext with the container's encryption key. */
#ifndef SOFTSKF_QUIRK_SYMBOLS
static ULONG decrypt_ecc(sk_view *v, void *arg)
{
    ecc_io *io = arg;
    const unsigned char *priv;
    ULONG rv = ecc_key(v->cont, 0, &priv);
    if (rv != SAR_OK)
        return rv;
    if (!(io->plain = malloc(io->n)))
        return SAR_MEMORYERR;
    if ((rv = sm2_decrypt_blob(priv, (const ECCCIPHERBLOB *)io->in, io->plain)) != SAR_OK)
        return rv;
    return out_bytes(io->out, io->out_len, io->plain, io->n);
}

ULONG SKF_ECCDecrypt(HCONTAINER hContainer, ECCCIPHERBLOB *pCipherText, BYTE *pbPlainText,
                     ULONG *pulPlainTextLen)
{
    ecc_io io = {(const BYTE *)pCipherText, pbPlainText, pulPlainTextLen, 0, NULL};
    ULONG rv;
    CONT(hContainer, c);
    if (!pCipherText || !pulPlainTextLen)
        return SAR_INVALIDPARAMERR;
    if ((rv = ecc_cipher_size(pCipherText, &io.n)) != SAR_OK)
        return rv;
    if (!pbPlainText || *pulPlainTextLen < io.n)
        return out_bytes(pbPlainText, pulPlainTextLen, NULL, io.n);
    rv = key_run(c, 0, decrypt_ecc, &io);
    if (io.plain) {
        wipe(io.plain, io.n);
        free(io.plain);
    }
    return rv;
}
#endif

/* ---- session keys unwrapped by the container's encryption key ---- */

/* A session key unwrapped by the encryption key: the wrapped bytes in, the key out. */
typedef struct {
    const BYTE *wrapped;
    ULONG wrapped_len;
    unsigned char key[SK_MAX_ECC_BUFFER];
    size_t n;
} session_unwrap;

static ULONG unwrap_session(sk_view *v, void *arg)
{
    session_unwrap *u = arg;
    sk_cont *cont = v->cont;
    ULONG rv = SAR_OK;
    if (cont->type == CONTAINER_ECC) {
        const ECCCIPHERBLOB *blob = (const ECCCIPHERBLOB *)u->wrapped;
        const unsigned char *priv;
        if (u->wrapped_len < offsetof(ECCCIPHERBLOB, Cipher))
            rv = SAR_INDATALENERR;
        else if ((rv = ecc_cipher_size(blob, &u->n)) == SAR_OK &&
                 u->wrapped_len < offsetof(ECCCIPHERBLOB, Cipher) + u->n)
            rv = SAR_INDATALENERR;
        if (rv == SAR_OK && (rv = ecc_key(cont, 0, &priv)) == SAR_OK)
            rv = sm2_decrypt_blob(priv, blob, u->key) == SAR_OK ? SAR_OK : SAR_INDATAERR;
        return rv;
    }
    if (cont->type == CONTAINER_RSA && cont->enc_key.n) {
        u->n = sizeof u->key;
        return rsa_private_decrypt(&cont->enc_key, u->wrapped, u->wrapped_len, u->key, &u->n);
    }
    return SAR_KEYNOTFOUNTERR;
}

ULONG SKF_ImportSessionKey(HCONTAINER hContainer, ULONG ulAlgId, BYTE *pbWrapedData,
                           ULONG ulWrapedLen, HANDLE *phKey)
{
    session_unwrap u = {pbWrapedData, ulWrapedLen, {0}, 0};
    ULONG rv;
    CONT(hContainer, c);
    if (!pbWrapedData || !phKey)
        return SAR_INVALIDPARAMERR;
    if (ulAlgId != SGD_SM4_ECB && ulAlgId != SGD_SM4_CBC)
        return SAR_NOTSUPPORTYETERR;
    if ((rv = key_run(c, 0, unwrap_session, &u)) == SAR_OK)
        rv = u.n == 16 ? symkey_new(c->app->dev, ulAlgId, u.key, phKey) : SAR_INDATALENERR;
    wipe(u.key, sizeof u.key);
    return rv;
}

/* ---- RSA ---- */

typedef struct {
    RSAPUBLICKEYBLOB *blob;
    sk_buf der;
} rsa_pair;

static ULONG gen_rsa(sk_view *v, void *arg)
{
    rsa_pair *k = arg;
    ULONG rv;
    if ((rv = claim_type(v->cont, CONTAINER_RSA)) != SAR_OK || (rv = rsa_generate(2048, &k->der)) != SAR_OK ||
        (rv = rsa_pub_blob(&k->der, k->blob)) != SAR_OK)
        return rv;
    buf_move(&v->cont->sign_key, &k->der);
    return SAR_OK;
}

ULONG SKF_GenRSAKeyPair(HCONTAINER hContainer, ULONG ulBitsLen, RSAPUBLICKEYBLOB *pBlob)
{
    rsa_pair k = {pBlob, {0}};
    ULONG rv;
    CONT(hContainer, c);
    if (!pBlob)
        return SAR_INVALIDPARAMERR;
    if (ulBitsLen != 2048)
        return SAR_MODULUSLENERR;
    rv = key_run(c, 1, gen_rsa, &k);
    buf_free(&k.der);
    return rv;
}

typedef struct {
    const BYTE *data;
    ULONG data_len;
    BYTE *sig;
    ULONG *sig_len;
} rsa_sign_io;

static ULONG sign_rsa(sk_view *v, void *arg)
{
    rsa_sign_io *io = arg;
    unsigned char sig[MAX_RSA_MODULUS_LEN];
    size_t n = sizeof sig;
    ULONG rv;
    if (v->cont->type != CONTAINER_RSA || !v->cont->sign_key.n)
        return SAR_KEYNOTFOUNTERR;
    if ((rv = rsa_sign(&v->cont->sign_key, io->data, io->data_len, sig, &n)) != SAR_OK)
        return rv;
    return out_bytes(io->sig, io->sig_len, sig, n);
}

ULONG SKF_RSASignData(HCONTAINER hContainer, BYTE *pbData, ULONG ulDataLen, BYTE *pbSignature,
                      ULONG *pulSignLen)
{
    rsa_sign_io io = {pbData, ulDataLen, pbSignature, pulSignLen};
    CONT(hContainer, c);
    if (!pbData || !pulSignLen)
        return SAR_INVALIDPARAMERR;
    if (ulDataLen == 0 || ulDataLen > MAX_RSA_MODULUS_LEN - 11)
        return SAR_INDATALENERR;
    if (!pbSignature || *pulSignLen < MAX_RSA_MODULUS_LEN)
        return out_bytes(pbSignature, pulSignLen, NULL, MAX_RSA_MODULUS_LEN);
    return key_run(c, 0, sign_rsa, &io);
}

/* The encryption pair of an RSA container: the symmetric key K comes PKCS#1-wrapped under the
 * signing key; the private key is an RSAPRIVATEKEYBLOB encrypted with K (ECB, PKCS#5 padding
 * when the length needs it). */
typedef struct {
    const BYTE *wrapped, *encrypted;
    ULONG wrapped_len, encrypted_len;
    unsigned char k[MAX_RSA_MODULUS_LEN];
    unsigned char *plain;
    sk_buf der;
} rsa_import;

static ULONG import_rsa(sk_view *v, void *arg)
{
    rsa_import *im = arg;
    size_t kn = sizeof im->k;
    ULONG rv;
    if (v->cont->type != CONTAINER_RSA || !v->cont->sign_key.n)
        return SAR_KEYNOTFOUNTERR;
    if (rsa_private_decrypt(&v->cont->sign_key, im->wrapped, im->wrapped_len, im->k, &kn) != SAR_OK || kn != 16)
        return SAR_INDATAERR;
    if (sm4_ecb(0, im->k, im->encrypted, im->encrypted_len, im->plain) != SAR_OK)
        return SAR_INDATAERR;
    if ((rv = rsa_der_from_priv_blob((const RSAPRIVATEKEYBLOB *)im->plain, &im->der)) != SAR_OK)
        return rv;
    buf_move(&v->cont->enc_key, &im->der);
    return SAR_OK;
}

ULONG SKF_ImportRSAKeyPair(HCONTAINER hContainer, ULONG ulSymAlgId, BYTE *pbWrappedKey,
                           ULONG ulWrappedKeyLen, BYTE *pbEncryptedData, ULONG ulEncryptedDataLen)
{
    rsa_import im = {pbWrappedKey, pbEncryptedData, ulWrappedKeyLen, ulEncryptedDataLen, {0}, NULL, {0}};
    ULONG rv;
    CONT(hContainer, c);
    if (!pbWrappedKey || !pbEncryptedData)
        return SAR_INVALIDPARAMERR;
    if (ulSymAlgId != SGD_SM4_ECB)
        return SAR_NOTSUPPORTYETERR;
    if (ulWrappedKeyLen != MAX_RSA_MODULUS_LEN || ulEncryptedDataLen % 16 ||
        ulEncryptedDataLen < sizeof(RSAPRIVATEKEYBLOB) || ulEncryptedDataLen > sizeof(RSAPRIVATEKEYBLOB) + 16)
        return SAR_INDATALENERR;
    if (!(im.plain = malloc(ulEncryptedDataLen)))
        return SAR_MEMORYERR;
    rv = key_run(c, 1, import_rsa, &im);
    buf_free(&im.der);
    wipe(im.k, sizeof im.k);
    wipe(im.plain, ulEncryptedDataLen);
    free(im.plain);
    return rv;
}

/* ---- session keys made here and wrapped for someone else's public key ---- */

ULONG SKF_ECCExportSessionKey(HCONTAINER hContainer, ULONG ulAlgId, ECCPUBLICKEYBLOB *pPubKey, ECCCIPHERBLOB *pData,
                              HANDLE *phSessionKey)
{
    unsigned char key[16], pub[64], c1[64];
    ULONG rv;
    CONT(hContainer, c);
    if (!pPubKey || !pData || !phSessionKey)
        return SAR_INVALIDPARAMERR;
    if (ulAlgId != SGD_SM4_ECB && ulAlgId != SGD_SM4_CBC)
        return SAR_NOTSUPPORTYETERR;
    if ((rv = ecc_pub_from_blob(pPubKey, pub)) != SAR_OK)
        return rv;
    if ((rv = random_bytes(key, sizeof key)) == SAR_OK &&
        (rv = sm2_encrypt(pub, key, sizeof key, c1, pData->HASH, pData->Cipher)) == SAR_OK) {
        memset(pData->XCoordinate, 0, 32);
        memset(pData->YCoordinate, 0, 32);
        memcpy(pData->XCoordinate + 32, c1, 32);
        memcpy(pData->YCoordinate + 32, c1 + 32, 32);
        pData->CipherLen = sizeof key;
        rv = symkey_new(c->app->dev, ulAlgId, key, phSessionKey);
    }
    wipe(key, sizeof key);
    return rv;
}

ULONG SKF_RSAExportSessionKey(HCONTAINER hContainer, ULONG ulAlgId, RSAPUBLICKEYBLOB *pPubKey, BYTE *pbData,
                              ULONG *pulDataLen, HANDLE *phSessionKey)
{
    unsigned char key[16], out[MAX_RSA_MODULUS_LEN];
    size_t n = sizeof out;
    ULONG rv;
    CONT(hContainer, c);
    if (!pPubKey || !pulDataLen || !phSessionKey)
        return SAR_INVALIDPARAMERR;
    if (ulAlgId != SGD_SM4_ECB && ulAlgId != SGD_SM4_CBC)
        return SAR_NOTSUPPORTYETERR;
    if (pPubKey->BitLen != 2048)
        return SAR_MODULUSLENERR;
    /* A size query makes no key. */
    if (!pbData || *pulDataLen < MAX_RSA_MODULUS_LEN)
        return out_bytes(pbData, pulDataLen, NULL, MAX_RSA_MODULUS_LEN);
    if ((rv = random_bytes(key, sizeof key)) == SAR_OK &&
        (rv = rsa_pub_op(pPubKey, 1, key, sizeof key, out, &n)) == SAR_OK &&
        (rv = out_bytes(pbData, pulDataLen, out, n)) == SAR_OK)
        rv = symkey_new(c->app->dev, ulAlgId, key, phSessionKey);
    wipe(key, sizeof key);
    return rv;
}
