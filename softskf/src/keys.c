/* Spec 7.6, the container's own keys: SM2 and RSA generation, signing, enveloped import, decryption. */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Opens the container for a private-key operation: the user PIN must have been verified. */
static ULONG key_tx(sk_conth *c, sk_tx *tx, int write, sk_cont **cont)
{
    sk_app *app;
    if (c->app->login != USER_TYPE) {
        memset(tx, 0, sizeof *tx);
        tx->lock_fd = tx->hold_fd = -1;
        return SAR_USER_NOT_LOGGED_IN;
    }
    return cont_tx(c, tx, write, &app, cont);
}

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

ULONG SKF_GenECCKeyPair(HCONTAINER hContainer, ULONG ulAlgId, ECCPUBLICKEYBLOB *pBlob)
{
    unsigned char priv[32], pub[64];
    sk_tx tx;
    sk_cont *cont;
    ULONG rv;
    CONT(hContainer, c);
    if (!pBlob)
        return SAR_INVALIDPARAMERR;
    if (ulAlgId != alg_sm2_1())
        return SAR_NOTSUPPORTYETERR;
    if ((rv = key_tx(c, &tx, 1, &cont)) == SAR_OK && (rv = claim_type(cont, CONTAINER_ECC)) == SAR_OK &&
        (rv = sm2_generate(priv, pub)) == SAR_OK) {
        rv = buf_set(&cont->sign_key, priv, 32) ? SAR_MEMORYERR : tx_commit(&tx);
        if (rv == SAR_OK)
            ecc_pub_to_blob(pub, pBlob);
    }
    tx_end(&tx);
    wipe(priv, sizeof priv);
    return rv;
}

ULONG SKF_ECCSignData(HCONTAINER hContainer, BYTE *pbDigest, ULONG ulDigestLen,
                      ECCSIGNATUREBLOB *pSignature)
{
    const unsigned char *priv;
    sk_tx tx;
    sk_cont *cont;
    ULONG rv;
    CONT(hContainer, c);
    if (!pbDigest || !pSignature)
        return SAR_INVALIDPARAMERR;
    if (ulDigestLen != 32) /* the input is e = SM3(Z || M); the token does not hash */
        return SAR_INDATALENERR;
    if ((rv = key_tx(c, &tx, 0, &cont)) == SAR_OK && (rv = ecc_key(cont, 1, &priv)) == SAR_OK) {
        memset(pSignature, 0, sizeof *pSignature);
        rv = sm2_sign(priv, pbDigest, pSignature->r + 32, pSignature->s + 32);
    }
    tx_end(&tx);
    return rv;
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

ULONG SKF_ImportECCKeyPair(HCONTAINER hContainer, ENVELOPEDKEYBLOB *pEnvelopedKeyBlob)
{
    const unsigned char *sign_priv;
    unsigned char d_e[32];
    sk_tx tx;
    sk_cont *cont;
    ULONG rv;
    CONT(hContainer, c);
    if (!pEnvelopedKeyBlob)
        return SAR_INVALIDPARAMERR;
    if ((rv = key_tx(c, &tx, 1, &cont)) == SAR_OK && (rv = ecc_key(cont, 1, &sign_priv)) == SAR_OK &&
        (rv = open_envelope(sign_priv, pEnvelopedKeyBlob, d_e)) == SAR_OK)
        rv = buf_set(&cont->enc_key, d_e, 32) ? SAR_MEMORYERR : tx_commit(&tx);
    tx_end(&tx);
    wipe(d_e, sizeof d_e);
    return rv;
}

/* Vendor extra: decrypt an SM2 ciphertext with the container's encryption key. */
#ifndef SOFTSKF_QUIRK_SYMBOLS
ULONG SKF_ECCDecrypt(HCONTAINER hContainer, ECCCIPHERBLOB *pCipherText, BYTE *pbPlainText,
                     ULONG *pulPlainTextLen)
{
    const unsigned char *priv;
    unsigned char *plain = NULL;
    size_t n;
    sk_tx tx;
    sk_cont *cont;
    ULONG rv;
    CONT(hContainer, c);
    if (!pCipherText || !pulPlainTextLen)
        return SAR_INVALIDPARAMERR;
    if ((rv = ecc_cipher_size(pCipherText, &n)) != SAR_OK)
        return rv;
    if (!pbPlainText || *pulPlainTextLen < n)
        return out_bytes(pbPlainText, pulPlainTextLen, NULL, n);
    if ((rv = key_tx(c, &tx, 0, &cont)) == SAR_OK && (rv = ecc_key(cont, 0, &priv)) == SAR_OK) {
        if (!(plain = malloc(n)))
            rv = SAR_MEMORYERR;
        else if ((rv = sm2_decrypt_blob(priv, pCipherText, plain)) == SAR_OK)
            rv = out_bytes(pbPlainText, pulPlainTextLen, plain, n);
    }
    tx_end(&tx);
    if (plain) {
        wipe(plain, n);
        free(plain);
    }
    return rv;
}
#endif

/* ---- session keys unwrapped by the container's encryption key ---- */

ULONG SKF_ImportSessionKey(HCONTAINER hContainer, ULONG ulAlgId, BYTE *pbWrapedData,
                           ULONG ulWrapedLen, HANDLE *phKey)
{
    unsigned char key[SK_MAX_ECC_BUFFER];
    size_t n = 0;
    sk_tx tx;
    sk_cont *cont;
    ULONG rv;
    CONT(hContainer, c);
    if (!pbWrapedData || !phKey)
        return SAR_INVALIDPARAMERR;
    if (ulAlgId != SGD_SM4_ECB && ulAlgId != SGD_SM4_CBC)
        return SAR_NOTSUPPORTYETERR;
    if ((rv = key_tx(c, &tx, 0, &cont)) != SAR_OK) {
        tx_end(&tx);
        return rv;
    }
    if (cont->type == CONTAINER_ECC) {
        const ECCCIPHERBLOB *blob = (const ECCCIPHERBLOB *)pbWrapedData;
        const unsigned char *priv;
        if (ulWrapedLen < offsetof(ECCCIPHERBLOB, Cipher))
            rv = SAR_INDATALENERR;
        else if ((rv = ecc_cipher_size(blob, &n)) == SAR_OK &&
                 ulWrapedLen < offsetof(ECCCIPHERBLOB, Cipher) + n)
            rv = SAR_INDATALENERR;
        if (rv == SAR_OK && (rv = ecc_key(cont, 0, &priv)) == SAR_OK)
            rv = sm2_decrypt_blob(priv, blob, key) == SAR_OK ? SAR_OK : SAR_INDATAERR;
    } else if (cont->type == CONTAINER_RSA && cont->enc_key.n) {
        n = sizeof key;
        rv = rsa_private_decrypt(&cont->enc_key, pbWrapedData, ulWrapedLen, key, &n);
    } else {
        rv = SAR_KEYNOTFOUNTERR;
    }
    tx_end(&tx);
    if (rv == SAR_OK)
        rv = n == 16 ? symkey_new(c->app->dev, ulAlgId, key, phKey) : SAR_INDATALENERR;
    wipe(key, sizeof key);
    return rv;
}

/* ---- RSA ---- */

ULONG SKF_GenRSAKeyPair(HCONTAINER hContainer, ULONG ulBitsLen, RSAPUBLICKEYBLOB *pBlob)
{
    sk_buf der = {0};
    sk_tx tx;
    sk_cont *cont;
    ULONG rv;
    CONT(hContainer, c);
    if (!pBlob)
        return SAR_INVALIDPARAMERR;
    if (ulBitsLen != 2048)
        return SAR_MODULUSLENERR;
    if ((rv = key_tx(c, &tx, 1, &cont)) == SAR_OK && (rv = claim_type(cont, CONTAINER_RSA)) == SAR_OK &&
        (rv = rsa_generate(ulBitsLen, &der)) == SAR_OK && (rv = rsa_pub_blob(&der, pBlob)) == SAR_OK) {
        buf_move(&cont->sign_key, &der);
        rv = tx_commit(&tx);
    }
    tx_end(&tx);
    buf_free(&der);
    return rv;
}

ULONG SKF_RSASignData(HCONTAINER hContainer, BYTE *pbData, ULONG ulDataLen, BYTE *pbSignature,
                      ULONG *pulSignLen)
{
    unsigned char sig[MAX_RSA_MODULUS_LEN];
    size_t n = sizeof sig;
    sk_tx tx;
    sk_cont *cont;
    ULONG rv;
    CONT(hContainer, c);
    if (!pbData || !pulSignLen)
        return SAR_INVALIDPARAMERR;
    if (ulDataLen == 0 || ulDataLen > MAX_RSA_MODULUS_LEN - 11)
        return SAR_INDATALENERR;
    if (!pbSignature || *pulSignLen < MAX_RSA_MODULUS_LEN)
        return out_bytes(pbSignature, pulSignLen, NULL, MAX_RSA_MODULUS_LEN);
    if ((rv = key_tx(c, &tx, 0, &cont)) == SAR_OK) {
        if (cont->type != CONTAINER_RSA || !cont->sign_key.n)
            rv = SAR_KEYNOTFOUNTERR;
        else if ((rv = rsa_sign(&cont->sign_key, pbData, ulDataLen, sig, &n)) == SAR_OK)
            rv = out_bytes(pbSignature, pulSignLen, sig, n);
    }
    tx_end(&tx);
    return rv;
}

/* The encryption pair of an RSA container: the symmetric key K comes PKCS#1-wrapped under the
 * signing key; the private key is an RSAPRIVATEKEYBLOB encrypted with K (ECB, PKCS#5 padding
 * when the length needs it). */
ULONG SKF_ImportRSAKeyPair(HCONTAINER hContainer, ULONG ulSymAlgId, BYTE *pbWrappedKey,
                           ULONG ulWrappedKeyLen, BYTE *pbEncryptedData, ULONG ulEncryptedDataLen)
{
    unsigned char k[MAX_RSA_MODULUS_LEN];
    size_t kn = sizeof k;
    unsigned char *plain = NULL;
    sk_buf der = {0};
    sk_tx tx;
    sk_cont *cont;
    ULONG rv;
    CONT(hContainer, c);
    if (!pbWrappedKey || !pbEncryptedData)
        return SAR_INVALIDPARAMERR;
    if (ulSymAlgId != SGD_SM4_ECB)
        return SAR_NOTSUPPORTYETERR;
    if (ulWrappedKeyLen != MAX_RSA_MODULUS_LEN || ulEncryptedDataLen % 16 ||
        ulEncryptedDataLen < sizeof(RSAPRIVATEKEYBLOB) || ulEncryptedDataLen > sizeof(RSAPRIVATEKEYBLOB) + 16)
        return SAR_INDATALENERR;
    if (!(plain = malloc(ulEncryptedDataLen)))
        return SAR_MEMORYERR;
    if ((rv = key_tx(c, &tx, 1, &cont)) == SAR_OK) {
        if (cont->type != CONTAINER_RSA || !cont->sign_key.n)
            rv = SAR_KEYNOTFOUNTERR;
        else if (rsa_private_decrypt(&cont->sign_key, pbWrappedKey, ulWrappedKeyLen, k, &kn) != SAR_OK || kn != 16)
            rv = SAR_INDATAERR;
        else if (sm4_ecb(0, k, pbEncryptedData, ulEncryptedDataLen, plain) != SAR_OK)
            rv = SAR_INDATAERR;
        else if ((rv = rsa_der_from_priv_blob((const RSAPRIVATEKEYBLOB *)plain, &der)) == SAR_OK) {
            buf_move(&cont->enc_key, &der);
            rv = tx_commit(&tx);
        }
    }
    tx_end(&tx);
    buf_free(&der);
    wipe(k, sizeof k);
    wipe(plain, ulEncryptedDataLen);
    free(plain);
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
