/* Spec 7.6, operations with keys the caller supplies: SM2 verify/encrypt/decrypt/sign, RSA. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static ULONG verify(DEVHANDLE hDev, ECCPUBLICKEYBLOB *pub_blob, BYTE *e, ULONG n, ECCSIGNATUREBLOB *sig)
{
    unsigned char pub[64];
    ULONG rv;
    DEV(hDev, d);
    (void)d;
    if (!pub_blob || !e || !sig)
        return SAR_INVALIDPARAMERR;
    if (n != 32)
        return SAR_INDATALENERR;
    if ((rv = ecc_pub_from_blob(pub_blob, pub)) != SAR_OK)
        return rv;
    for (int i = 0; i < 32; i++)
        if (sig->r[i] || sig->s[i])
            return SAR_INVALIDPARAMERR; /* r and s are right-aligned 32-byte values */
    return sm2_verify(pub, e, sig->r + 32, sig->s + 32);
}

ULONG SKF_ECCVerify(DEVHANDLE hDev, ECCPUBLICKEYBLOB *pECCPubKeyBlob, BYTE *pbData, ULONG ulDataLen,
                    ECCSIGNATUREBLOB *pSignature)
{
    return verify(hDev, pECCPubKeyBlob, pbData, ulDataLen, pSignature);
}

ULONG SKF_ExtECCVerify(DEVHANDLE hDev, ECCPUBLICKEYBLOB *pECCPubKeyBlob, BYTE *pbData, ULONG ulDataLen,
                       ECCSIGNATUREBLOB *pSignature)
{
    return verify(hDev, pECCPubKeyBlob, pbData, ulDataLen, pSignature);
}

ULONG SKF_ExtECCSign(DEVHANDLE hDev, ECCPRIVATEKEYBLOB *pECCPriKeyBlob, BYTE *pbData, ULONG ulDataLen,
                     ECCSIGNATUREBLOB *pSignature)
{
    unsigned char priv[32];
    ULONG rv;
    DEV(hDev, d);
    (void)d;
    if (!pECCPriKeyBlob || !pbData || !pSignature)
        return SAR_INVALIDPARAMERR;
    if (ulDataLen != 32)
        return SAR_INDATALENERR;
    if ((rv = ecc_priv_from_blob(pECCPriKeyBlob, priv)) == SAR_OK) {
        memset(pSignature, 0, sizeof *pSignature);
        rv = sm2_sign(priv, pbData, pSignature->r + 32, pSignature->s + 32);
    }
    wipe(priv, sizeof priv);
    return rv;
}

/* The caller sizes pCipherText for ulPlainTextLen bytes of Cipher (165 + n - 1 in all). */
ULONG SKF_ExtECCEncrypt(DEVHANDLE hDev, ECCPUBLICKEYBLOB *pECCPubKeyBlob, BYTE *pbPlainText,
                        ULONG ulPlainTextLen, ECCCIPHERBLOB *pCipherText)
{
    unsigned char pub[64];
    ULONG rv;
    DEV(hDev, d);
    (void)d;
    if (!pECCPubKeyBlob || !pbPlainText || !pCipherText)
        return SAR_INVALIDPARAMERR;
    if (ulPlainTextLen == 0 || ulPlainTextLen > SK_MAX_ECC_BUFFER)
        return SAR_INDATALENERR;
    if ((rv = ecc_pub_from_blob(pECCPubKeyBlob, pub)) != SAR_OK)
        return rv;
    memset(pCipherText->XCoordinate, 0, 32);
    memset(pCipherText->YCoordinate, 0, 32);
    unsigned char c1[64];
    rv = sm2_encrypt(pub, pbPlainText, ulPlainTextLen, c1, pCipherText->HASH, pCipherText->Cipher);
    if (rv == SAR_OK) {
        memcpy(pCipherText->XCoordinate + 32, c1, 32);
        memcpy(pCipherText->YCoordinate + 32, c1 + 32, 32);
        pCipherText->CipherLen = ulPlainTextLen;
    }
    return rv;
}

ULONG SKF_ExtECCDecrypt(DEVHANDLE hDev, ECCPRIVATEKEYBLOB *pECCPriKeyBlob, ECCCIPHERBLOB *pCipherText,
                        BYTE *pbPlainText, ULONG *pulPlainTextLen)
{
    unsigned char priv[32];
    unsigned char *plain;
    size_t n;
    ULONG rv;
    DEV(hDev, d);
    (void)d;
    if (!pECCPriKeyBlob || !pCipherText || !pulPlainTextLen)
        return SAR_INVALIDPARAMERR;
    if ((rv = ecc_cipher_size(pCipherText, &n)) != SAR_OK)
        return rv;
    if (!pbPlainText || *pulPlainTextLen < n)
        return out_bytes(pbPlainText, pulPlainTextLen, NULL, n);
    if ((rv = ecc_priv_from_blob(pECCPriKeyBlob, priv)) != SAR_OK)
        return rv;
    if (!(plain = malloc(n))) {
        wipe(priv, sizeof priv);
        return SAR_MEMORYERR;
    }
    rv = sm2_decrypt_blob(priv, pCipherText, plain);
    if (rv == SAR_OK)
        rv = out_bytes(pbPlainText, pulPlainTextLen, plain, n);
    wipe(plain, n);
    free(plain);
    wipe(priv, sizeof priv);
    return rv;
}

ULONG SKF_GenExtRSAKey(DEVHANDLE hDev, ULONG ulBitsLen, RSAPRIVATEKEYBLOB *pBlob)
{
    DEV(hDev, d);
    (void)d;
    if (!pBlob)
        return SAR_INVALIDPARAMERR;
    if (ulBitsLen != 2048)
        return SAR_MODULUSLENERR;
    return rsa_ext_generate(ulBitsLen, pBlob);
}

ULONG SKF_RSAVerify(DEVHANDLE hDev, RSAPUBLICKEYBLOB *pRSAPubKeyBlob, BYTE *pbData, ULONG ulDataLen,
                    BYTE *pbSignature, ULONG ulSignLen)
{
    DEV(hDev, d);
    (void)d;
    if (!pRSAPubKeyBlob || !pbData || !pbSignature)
        return SAR_INVALIDPARAMERR;
    if (ulDataLen == 0 || ulDataLen > MAX_RSA_MODULUS_LEN - 11 || ulSignLen != pRSAPubKeyBlob->BitLen / 8)
        return SAR_INDATALENERR;
    return rsa_verify_blob(pRSAPubKeyBlob, pbData, ulDataLen, pbSignature, ulSignLen);
}

/* Raw RSA (no padding) with a key from the caller: input and output are one modulus long. */
static ULONG raw_op(const RSAPUBLICKEYBLOB *pub, const RSAPRIVATEKEYBLOB *priv, BYTE *in, ULONG n,
                    BYTE *out, ULONG *outlen)
{
    unsigned char tmp[MAX_RSA_MODULUS_LEN];
    size_t len = sizeof tmp;
    ULONG rv;
    if (!pub || !in || !outlen)
        return SAR_INVALIDPARAMERR;
    if (pub->BitLen != 2048)
        return SAR_MODULUSLENERR;
    if (n != pub->BitLen / 8)
        return SAR_INDATALENERR;
    if (!out || *outlen < n)
        return out_bytes(out, outlen, NULL, n);
    rv = priv ? rsa_priv_op(priv, in, n, tmp, &len) : rsa_pub_op(pub, 0, in, n, tmp, &len);
    if (rv == SAR_OK)
        rv = out_bytes(out, outlen, tmp, len);
    wipe(tmp, sizeof tmp);
    return rv;
}

ULONG SKF_ExtRSAPubKeyOperation(DEVHANDLE hDev, RSAPUBLICKEYBLOB *pRSAPubKeyBlob, BYTE *pbInput,
                                ULONG ulInputLen, BYTE *pbOutput, ULONG *pulOutputLen)
{
    DEV(hDev, d);
    (void)d;
    return raw_op(pRSAPubKeyBlob, NULL, pbInput, ulInputLen, pbOutput, pulOutputLen);
}

ULONG SKF_ExtRSAPriKeyOperation(DEVHANDLE hDev, RSAPRIVATEKEYBLOB *pRSAPriKeyBlob, BYTE *pbInput,
                                ULONG ulInputLen, BYTE *pbOutput, ULONG *pulOutputLen)
{
    DEV(hDev, d);
    (void)d;
    return raw_op((const RSAPUBLICKEYBLOB *)pRSAPriKeyBlob, pRSAPriKeyBlob, pbInput, ulInputLen, pbOutput,
                  pulOutputLen);
}
