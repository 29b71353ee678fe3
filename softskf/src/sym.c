/* Spec 7.6, the handle-based services: SM4 session keys (ECB, CBC) and digests (SM3, SHA-1, SHA-256). */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "internal.h"

typedef struct {
    sk_hdr hdr;
    uint32_t alg;
    unsigned char key[16];
    EVP_CIPHER_CTX *ctx; /* set by EncryptInit or DecryptInit */
    int encrypting;
} sk_keyh;

typedef struct {
    sk_hdr hdr;
    EVP_MD_CTX *ctx;
    size_t len;
} sk_hashh;

static void key_destroy(void *self)
{
    sk_keyh *k = self;
    EVP_CIPHER_CTX_free(k->ctx);
    wipe(k->key, sizeof k->key);
}

static void hash_destroy(void *self)
{
    EVP_MD_CTX_free(((sk_hashh *)self)->ctx);
}

ULONG symkey_new(sk_devh *dev, uint32_t alg, const unsigned char key[16], HANDLE *ph)
{
    sk_keyh *k = handle_new(K_KEY, sizeof *k, dev);
    if (!k)
        return SAR_MEMORYERR;
    k->hdr.destroy = key_destroy;
    k->alg = alg;
    memcpy(k->key, key, 16);
    *ph = k;
    return SAR_OK;
}

ULONG SKF_SetSymmKey(DEVHANDLE hDev, BYTE *pbKey, ULONG ulAlgID, HANDLE *phKey)
{
    sk_devh *d = handle_get(hDev, K_DEV);
    if (!d)
        return SAR_INVALIDHANDLEERR;
    if (!pbKey || !phKey)
        return SAR_INVALIDPARAMERR;
    if (ulAlgID != SGD_SM4_ECB && ulAlgID != SGD_SM4_CBC)
        return SAR_NOTSUPPORTYETERR;
    return symkey_new(d, ulAlgID, pbKey, phKey);
}

static ULONG cipher_init(HANDLE hKey, const BLOCKCIPHERPARAM *p, int enc)
{
    sk_keyh *k = handle_get(hKey, K_KEY);
    const EVP_CIPHER *cipher;
    if (!k)
        return SAR_INVALIDHANDLEERR;
    if (p->PaddingType > 1 || p->IVLen > MAX_IV_LEN)
        return SAR_INVALIDPARAMERR;
    cipher = k->alg == SGD_SM4_CBC ? EVP_sm4_cbc() : EVP_sm4_ecb();
    if (k->alg == SGD_SM4_CBC && p->IVLen != 16)
        return SAR_INVALIDPARAMERR;
    EVP_CIPHER_CTX_free(k->ctx);
    k->ctx = EVP_CIPHER_CTX_new();
    if (!k->ctx || !EVP_CipherInit_ex(k->ctx, cipher, NULL, k->key, k->alg == SGD_SM4_CBC ? p->IV : NULL, enc) ||
        !EVP_CIPHER_CTX_set_padding(k->ctx, (int)p->PaddingType))
        return SAR_FAIL;
    k->encrypting = enc;
    return SAR_OK;
}

ULONG SKF_EncryptInit(HANDLE hKey, BLOCKCIPHERPARAM EncryptParam)
{
    return cipher_init(hKey, &EncryptParam, 1);
}

ULONG SKF_DecryptInit(HANDLE hKey, BLOCKCIPHERPARAM DecryptParam)
{
    return cipher_init(hKey, &DecryptParam, 0);
}

static sk_keyh *ready_key(HANDLE hKey, int enc, ULONG *rv)
{
    sk_keyh *k = handle_get(hKey, K_KEY);
    *rv = !k ? SAR_INVALIDHANDLEERR : (!k->ctx || k->encrypting != enc) ? SAR_NOTINITIALIZEERR : SAR_OK;
    return *rv == SAR_OK ? k : NULL;
}

/* The largest output an update of n bytes can give; the caller's buffer is checked against it. */
static size_t update_bound(size_t n)
{
    return n + 16;
}

static ULONG cipher_update(HANDLE hKey, int enc, BYTE *in, ULONG n, BYTE *out, ULONG *outlen)
{
    ULONG rv;
    int len = 0;
    sk_keyh *k = ready_key(hKey, enc, &rv);
    if (!k)
        return rv;
    if ((!in && n) || !outlen)
        return SAR_INVALIDPARAMERR;
    if (n > SK_MAX_BUFFER)
        return SAR_INDATALENERR;
    if (!out || *outlen < update_bound(n))
        return out_bytes(out, outlen, NULL, update_bound(n));
    if (!EVP_CipherUpdate(k->ctx, out, &len, in, (int)n))
        return SAR_FAIL;
    *outlen = (ULONG)len;
    return SAR_OK;
}

static ULONG cipher_final(HANDLE hKey, int enc, BYTE *out, ULONG *outlen)
{
    ULONG rv;
    int len = 0;
    sk_keyh *k = ready_key(hKey, enc, &rv);
    if (!k)
        return rv;
    if (!outlen)
        return SAR_INVALIDPARAMERR;
    if (!out || *outlen < 16)
        return out_bytes(out, outlen, NULL, 16);
    rv = EVP_CipherFinal_ex(k->ctx, out, &len) ? SAR_OK : enc ? SAR_INDATALENERR : SAR_DECRYPTPADERR;
    EVP_CIPHER_CTX_free(k->ctx);
    k->ctx = NULL;
    if (rv == SAR_OK)
        *outlen = (ULONG)len;
    return rv;
}

/* One-shot: Update then Final into one buffer, sized for both. */
static ULONG cipher_once(HANDLE hKey, int enc, BYTE *in, ULONG n, BYTE *out, ULONG *outlen)
{
    ULONG rv, a, b;
    sk_keyh *k = ready_key(hKey, enc, &rv);
    if (!k)
        return rv;
    if (!outlen)
        return SAR_INVALIDPARAMERR;
    if (n > SK_MAX_BUFFER)
        return SAR_INDATALENERR;
    if (!out || *outlen < update_bound(n) + 16)
        return out_bytes(out, outlen, NULL, update_bound(n) + 16);
    a = *outlen;
    if ((rv = cipher_update(hKey, enc, in, n, out, &a)) != SAR_OK)
        return rv;
    b = *outlen - a;
    if ((rv = cipher_final(hKey, enc, out + a, &b)) != SAR_OK)
        return rv;
    *outlen = a + b;
    return SAR_OK;
}

ULONG SKF_Encrypt(HANDLE hKey, BYTE *pbData, ULONG ulDataLen, BYTE *pbEncryptedData,
                  ULONG *pulEncryptedLen)
{
    return cipher_once(hKey, 1, pbData, ulDataLen, pbEncryptedData, pulEncryptedLen);
}

ULONG SKF_EncryptUpdate(HANDLE hKey, BYTE *pbData, ULONG ulDataLen, BYTE *pbEncryptedData,
                        ULONG *pulEncryptedLen)
{
    return cipher_update(hKey, 1, pbData, ulDataLen, pbEncryptedData, pulEncryptedLen);
}

ULONG SKF_EncryptFinal(HANDLE hKey, BYTE *pbEncryptedData, ULONG *pulEncryptedDataLen)
{
    return cipher_final(hKey, 1, pbEncryptedData, pulEncryptedDataLen);
}

ULONG SKF_Decrypt(HANDLE hKey, BYTE *pbEncryptedData, ULONG ulEncryptedLen, BYTE *pbData,
                  ULONG *pulDataLen)
{
    return cipher_once(hKey, 0, pbEncryptedData, ulEncryptedLen, pbData, pulDataLen);
}

ULONG SKF_DecryptUpdate(HANDLE hKey, BYTE *pbEncryptedData, ULONG ulEncryptedLen, BYTE *pbData,
                        ULONG *pulDataLen)
{
    return cipher_update(hKey, 0, pbEncryptedData, ulEncryptedLen, pbData, pulDataLen);
}

ULONG SKF_DecryptFinal(HANDLE hKey, BYTE *pbDecryptedData, ULONG *pulDecryptedDataLen)
{
    return cipher_final(hKey, 0, pbDecryptedData, pulDecryptedDataLen);
}

/* ---- digests; with SGD_SM3, a public key and an ID, Z is hashed first (GM/T 0009) ---- */

ULONG SKF_DigestInit(DEVHANDLE hDev, ULONG ulAlgID, ECCPUBLICKEYBLOB *pPubKey, BYTE *pbID,
                     ULONG ulIDLen, HANDLE *phHash)
{
    sk_devh *d = handle_get(hDev, K_DEV);
    const EVP_MD *md = ulAlgID == SGD_SM3 ? EVP_sm3() : ulAlgID == SGD_SHA1 ? EVP_sha1()
                     : ulAlgID == SGD_SHA256 ? EVP_sha256() : NULL;
    unsigned char pub[64], z[32];
    sk_hashh *h;
    ULONG rv;
    if (!d)
        return SAR_INVALIDHANDLEERR;
    if (!phHash)
        return SAR_INVALIDPARAMERR;
    if (!md)
        return SAR_NOTSUPPORTYETERR;
    if (pPubKey && ulAlgID == SGD_SM3) {
        if (!pbID || ulIDLen == 0 || ulIDLen > 1024)
            return SAR_INVALIDPARAMERR;
        if ((rv = ecc_pub_from_blob(pPubKey, pub)) != SAR_OK || (rv = sm3_z(pub, pbID, ulIDLen, z)) != SAR_OK)
            return rv;
    }
    if (!(h = handle_new(K_HASH, sizeof *h, d)))
        return SAR_MEMORYERR;
    h->hdr.destroy = hash_destroy;
    h->len = (size_t)EVP_MD_get_size(md);
    h->ctx = EVP_MD_CTX_new();
    if (!h->ctx || !EVP_DigestInit_ex(h->ctx, md, NULL) ||
        (pPubKey && ulAlgID == SGD_SM3 && !EVP_DigestUpdate(h->ctx, z, sizeof z))) {
        handle_free(h);
        return SAR_HASHERR;
    }
    *phHash = h;
    return SAR_OK;
}

ULONG SKF_DigestUpdate(HANDLE hHash, BYTE *pbData, ULONG ulDataLen)
{
    sk_hashh *h = handle_get(hHash, K_HASH);
    if (!h)
        return SAR_INVALIDHANDLEERR;
    if (!h->ctx)
        return SAR_HASHOBJERR;
    if (!pbData && ulDataLen)
        return SAR_INVALIDPARAMERR;
    return EVP_DigestUpdate(h->ctx, pbData, ulDataLen) ? SAR_OK : SAR_HASHERR;
}

ULONG SKF_DigestFinal(HANDLE hHash, BYTE *pHashData, ULONG *pulHashLen)
{
    sk_hashh *h = handle_get(hHash, K_HASH);
    unsigned int len = 0;
    if (!h)
        return SAR_INVALIDHANDLEERR;
    if (!h->ctx)
        return SAR_HASHOBJERR;
    if (!pulHashLen)
        return SAR_INVALIDPARAMERR;
    if (!pHashData || *pulHashLen < h->len)
        return out_bytes(pHashData, pulHashLen, NULL, h->len);
    if (!EVP_DigestFinal_ex(h->ctx, pHashData, &len))
        return SAR_HASHERR;
    EVP_MD_CTX_free(h->ctx);
    h->ctx = NULL; /* a finished hash object takes no more data */
    *pulHashLen = len;
    return SAR_OK;
}

ULONG SKF_Digest(HANDLE hHash, BYTE *pbData, ULONG ulDataLen, BYTE *pbHashData, ULONG *pulHashLen)
{
    sk_hashh *h = handle_get(hHash, K_HASH);
    ULONG rv;
    if (!h)
        return SAR_INVALIDHANDLEERR;
    if (!h->ctx)
        return SAR_HASHOBJERR;
    if (!pulHashLen)
        return SAR_INVALIDPARAMERR;
    if (!pbHashData || *pulHashLen < h->len)
        return out_bytes(pbHashData, pulHashLen, NULL, h->len);
    if ((rv = SKF_DigestUpdate(hHash, pbData, ulDataLen)) != SAR_OK)
        return rv;
    return SKF_DigestFinal(hHash, pbHashData, pulHashLen);
}

/* ---- MAC: SM4-CBC-MAC, the last ciphertext block; padding 0 (whole blocks only) or PKCS#5 ---- */

typedef struct {
    sk_hdr hdr;
    EVP_CIPHER_CTX *ctx;
    unsigned char last[16];
    int have_block;
} sk_mach;

static void mac_destroy(void *self)
{
    sk_mach *m = self;
    EVP_CIPHER_CTX_free(m->ctx);
    wipe(m->last, sizeof m->last);
}

ULONG SKF_MacInit(HANDLE hKey, BLOCKCIPHERPARAM *pMacParam, HANDLE *phMac)
{
    static const unsigned char zero_iv[16];
    sk_keyh *k = handle_get(hKey, K_KEY);
    sk_mach *m;
    if (!k)
        return SAR_INVALIDHANDLEERR;
    if (!pMacParam || !phMac || pMacParam->PaddingType > 1 || (pMacParam->IVLen != 0 && pMacParam->IVLen != 16))
        return SAR_INVALIDPARAMERR;
    if (!(m = handle_new(K_MAC, sizeof *m, k->hdr.parent)))
        return SAR_MEMORYERR;
    m->hdr.destroy = mac_destroy;
    m->ctx = EVP_CIPHER_CTX_new();
    if (!m->ctx || !EVP_EncryptInit_ex(m->ctx, EVP_sm4_cbc(), NULL, k->key, pMacParam->IVLen ? pMacParam->IV : zero_iv) ||
        !EVP_CIPHER_CTX_set_padding(m->ctx, (int)pMacParam->PaddingType)) {
        handle_free(m);
        return SAR_FAIL;
    }
    *phMac = m;
    return SAR_OK;
}

/* Encrypts and keeps only the latest full block: the MAC is the last one. */
static ULONG mac_feed(sk_mach *m, const BYTE *in, ULONG n)
{
    unsigned char out[256 + 16];
    while (n) {
        int chunk = n > 256 ? 256 : (int)n, len = 0;
        if (!EVP_EncryptUpdate(m->ctx, out, &len, in, chunk))
            return SAR_FAIL;
        if (len >= 16) {
            memcpy(m->last, out + len - 16, 16);
            m->have_block = 1;
        }
        in += chunk;
        n -= (ULONG)chunk;
    }
    return SAR_OK;
}

ULONG SKF_MacUpdate(HANDLE hMac, BYTE *pbData, ULONG ulDataLen)
{
    sk_mach *m = handle_get(hMac, K_MAC);
    if (!m)
        return SAR_INVALIDHANDLEERR;
    if (!m->ctx)
        return SAR_NOTINITIALIZEERR;
    if (!pbData && ulDataLen)
        return SAR_INVALIDPARAMERR;
    return mac_feed(m, pbData, ulDataLen);
}

ULONG SKF_MacFinal(HANDLE hMac, BYTE *pbMacData, ULONG *pulMacDataLen)
{
    sk_mach *m = handle_get(hMac, K_MAC);
    unsigned char out[16];
    int len = 0;
    ULONG rv;
    if (!m)
        return SAR_INVALIDHANDLEERR;
    if (!m->ctx)
        return SAR_NOTINITIALIZEERR;
    if (!pulMacDataLen)
        return SAR_INVALIDPARAMERR;
    if (!pbMacData || *pulMacDataLen < 16)
        return out_bytes(pbMacData, pulMacDataLen, NULL, 16);
    if (!EVP_EncryptFinal_ex(m->ctx, out, &len) || (len != 16 && !m->have_block))
        rv = SAR_INDATALENERR; /* no padding, and not a whole (non-zero) number of blocks */
    else
        rv = out_bytes(pbMacData, pulMacDataLen, len == 16 ? out : m->last, 16);
    EVP_CIPHER_CTX_free(m->ctx);
    m->ctx = NULL;
    return rv;
}

ULONG SKF_Mac(HANDLE hMac, BYTE *pbData, ULONG ulDataLen, BYTE *pbMacData, ULONG *pulMacLen)
{
    sk_mach *m = handle_get(hMac, K_MAC);
    ULONG rv;
    if (!m)
        return SAR_INVALIDHANDLEERR;
    if (!pulMacLen)
        return SAR_INVALIDPARAMERR;
    if (!pbMacData || *pulMacLen < 16)
        return out_bytes(pbMacData, pulMacLen, NULL, 16);
    if ((rv = SKF_MacUpdate(hMac, pbData, ulDataLen)) != SAR_OK)
        return rv;
    return SKF_MacFinal(hMac, pbMacData, pulMacLen);
}

ULONG SKF_CloseHandle(HANDLE hHandle)
{
    if (!handle_get(hHandle, K_KEY) && !handle_get(hHandle, K_HASH) && !handle_get(hHandle, K_MAC))
        return SAR_INVALIDHANDLEERR;
    handle_free(hHandle);
    return SAR_OK;
}
