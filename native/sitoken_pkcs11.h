/* The part of the PKCS#11 v2.40 ABI that only the C side needs: the mechanism structure,
 * the C_Initialize arguments and the function list. Written from the base specification
 * (sections 3 and 5); include after sitoken_native.h, which defines the basic types.
 */
#ifndef SITOKEN_PKCS11_H
#define SITOKEN_PKCS11_H

typedef void *CK_VOID_PTR;

typedef struct CK_MECHANISM {
    CK_MECHANISM_TYPE mechanism;
    CK_VOID_PTR pParameter;
    CK_ULONG ulParameterLen;
} CK_MECHANISM;

typedef CK_RV (*CK_CREATEMUTEX)(CK_VOID_PTR *mutex);
typedef CK_RV (*CK_DESTROYMUTEX)(CK_VOID_PTR mutex);
typedef CK_RV (*CK_LOCKMUTEX)(CK_VOID_PTR mutex);
typedef CK_RV (*CK_UNLOCKMUTEX)(CK_VOID_PTR mutex);

typedef struct CK_C_INITIALIZE_ARGS {
    CK_CREATEMUTEX CreateMutex;
    CK_DESTROYMUTEX DestroyMutex;
    CK_LOCKMUTEX LockMutex;
    CK_UNLOCKMUTEX UnlockMutex;
    CK_FLAGS flags;
    CK_VOID_PTR pReserved;
} CK_C_INITIALIZE_ARGS;

typedef struct CK_FUNCTION_LIST CK_FUNCTION_LIST;

typedef CK_RV (*CK_C_Initialize)(CK_VOID_PTR pInitArgs);
typedef CK_RV (*CK_C_Finalize)(CK_VOID_PTR pReserved);
typedef CK_RV (*CK_C_GetFunctionList)(CK_FUNCTION_LIST **ppFunctionList);
typedef CK_RV (*CK_C_GetTokenInfo)(CK_SLOT_ID slotID, CK_TOKEN_INFO *pInfo);
typedef CK_RV (*CK_C_InitToken)(CK_SLOT_ID slotID, CK_UTF8CHAR *pPin, CK_ULONG ulPinLen,
                                CK_UTF8CHAR *pLabel);
typedef CK_RV (*CK_C_OpenSession)(CK_SLOT_ID slotID, CK_FLAGS flags, CK_VOID_PTR pApplication,
                                  CK_VOID_PTR notify, CK_SESSION_HANDLE *phSession);
typedef CK_RV (*CK_C_CloseSession)(CK_SESSION_HANDLE hSession);
typedef CK_RV (*CK_C_Login)(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR *pPin,
                            CK_ULONG ulPinLen);
typedef CK_RV (*CK_C_Logout)(CK_SESSION_HANDLE hSession);
typedef CK_RV (*CK_C_SignInit)(CK_SESSION_HANDLE hSession, CK_MECHANISM *pMechanism,
                               CK_OBJECT_HANDLE hKey);
typedef CK_RV (*CK_C_Sign)(CK_SESSION_HANDLE hSession, CK_BYTE *pData, CK_ULONG ulDataLen,
                           CK_BYTE *pSignature, CK_ULONG *pulSignatureLen);

/* Slots sitoken never calls: only their size and position matter. */
typedef CK_RV (*sitoken_unused_fn)(void);

/* The 68 entry points in the order of the specification's function list. */
struct CK_FUNCTION_LIST {
    CK_VERSION version;
    CK_C_Initialize C_Initialize;
    CK_C_Finalize C_Finalize;
    sitoken_unused_fn C_GetInfo;
    CK_C_GetFunctionList C_GetFunctionList;
    sitoken_unused_fn C_GetSlotList;
    sitoken_unused_fn C_GetSlotInfo;
    CK_C_GetTokenInfo C_GetTokenInfo;
    sitoken_unused_fn C_GetMechanismList;
    sitoken_unused_fn C_GetMechanismInfo;
    CK_C_InitToken C_InitToken;
    sitoken_unused_fn C_InitPIN;
    sitoken_unused_fn C_SetPIN;
    CK_C_OpenSession C_OpenSession;
    CK_C_CloseSession C_CloseSession;
    sitoken_unused_fn C_CloseAllSessions;
    sitoken_unused_fn C_GetSessionInfo;
    sitoken_unused_fn C_GetOperationState;
    sitoken_unused_fn C_SetOperationState;
    CK_C_Login C_Login;
    CK_C_Logout C_Logout;
    sitoken_unused_fn C_CreateObject;
    sitoken_unused_fn C_CopyObject;
    sitoken_unused_fn C_DestroyObject;
    sitoken_unused_fn C_GetObjectSize;
    sitoken_unused_fn C_GetAttributeValue;
    sitoken_unused_fn C_SetAttributeValue;
    sitoken_unused_fn C_FindObjectsInit;
    sitoken_unused_fn C_FindObjects;
    sitoken_unused_fn C_FindObjectsFinal;
    sitoken_unused_fn C_EncryptInit;
    sitoken_unused_fn C_Encrypt;
    sitoken_unused_fn C_EncryptUpdate;
    sitoken_unused_fn C_EncryptFinal;
    sitoken_unused_fn C_DecryptInit;
    sitoken_unused_fn C_Decrypt;
    sitoken_unused_fn C_DecryptUpdate;
    sitoken_unused_fn C_DecryptFinal;
    sitoken_unused_fn C_DigestInit;
    sitoken_unused_fn C_Digest;
    sitoken_unused_fn C_DigestUpdate;
    sitoken_unused_fn C_DigestKey;
    sitoken_unused_fn C_DigestFinal;
    CK_C_SignInit C_SignInit;
    CK_C_Sign C_Sign;
    sitoken_unused_fn C_SignUpdate;
    sitoken_unused_fn C_SignFinal;
    sitoken_unused_fn C_SignRecoverInit;
    sitoken_unused_fn C_SignRecover;
    sitoken_unused_fn C_VerifyInit;
    sitoken_unused_fn C_Verify;
    sitoken_unused_fn C_VerifyUpdate;
    sitoken_unused_fn C_VerifyFinal;
    sitoken_unused_fn C_VerifyRecoverInit;
    sitoken_unused_fn C_VerifyRecover;
    sitoken_unused_fn C_DigestEncryptUpdate;
    sitoken_unused_fn C_DecryptDigestUpdate;
    sitoken_unused_fn C_SignEncryptUpdate;
    sitoken_unused_fn C_DecryptVerifyUpdate;
    sitoken_unused_fn C_GenerateKey;
    sitoken_unused_fn C_GenerateKeyPair;
    sitoken_unused_fn C_WrapKey;
    sitoken_unused_fn C_UnwrapKey;
    sitoken_unused_fn C_DeriveKey;
    sitoken_unused_fn C_SeedRandom;
    sitoken_unused_fn C_GenerateRandom;
    sitoken_unused_fn C_GetFunctionStatus;
    sitoken_unused_fn C_CancelFunction;
    sitoken_unused_fn C_WaitForSlotEvent;
};

#endif
