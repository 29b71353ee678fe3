/* The SKF (GM/T 0016) C interface as softskf exports it: types, structures, constants, entry points.
 *
 * Written for sitoken from the facts collected in SKF.md (sitoken's shared notes), not copied
 * from any vendor or project header. Linux ABI: ULONG, DWORD and BOOL are 32-bit, every
 * structure is packed to 1 byte, handles are opaque pointers, no calling-convention decoration.
 */
#ifndef SOFTSKF_SKF_H
#define SOFTSKF_SKF_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef uint8_t BYTE;
typedef char CHAR;
typedef uint32_t ULONG;
typedef uint32_t DWORD;
typedef int32_t BOOL;
typedef char *LPSTR;
typedef void *HANDLE;
typedef HANDLE DEVHANDLE;
typedef HANDLE HAPPLICATION;
typedef HANDLE HCONTAINER;

#ifndef TRUE
#define TRUE 1
#endif
#ifndef FALSE
#define FALSE 0
#endif

#define SKF_EXPORT __attribute__((visibility("default")))

/* Field sizes (bytes) */
#define MAX_RSA_MODULUS_LEN 256
#define MAX_RSA_EXPONENT_LEN 4
#define ECC_MAX_XCOORDINATE_BITS_LEN 512
#define ECC_MAX_YCOORDINATE_BITS_LEN 512
#define ECC_MAX_MODULUS_BITS_LEN 512
#define MAX_IV_LEN 32
#define MAX_FILE_NAME_SIZE 32
#define MAX_FILE_CONTAINER_NAME_SIZE 64

/* PIN types and access rights */
#define ADMIN_TYPE 0
#define USER_TYPE 1
#define SECURE_NEVER_ACCOUNT 0x00000000u
#define SECURE_ADM_ACCOUNT 0x00000001u
#define SECURE_USER_ACCOUNT 0x00000010u
#define SECURE_ANYONE_ACCOUNT 0x000000FFu

/* Device state and events */
#define DEV_ABSENT_STATE 0u
#define DEV_PRESENT_STATE 1u
#define DEV_EVENT_INSERTED 1u
#define DEV_EVENT_REMOVED 2u

/* Container types */
#define CONTAINER_EMPTY 0u
#define CONTAINER_RSA 1u
#define CONTAINER_ECC 2u

/* Algorithm identifiers (GM/T 0006-2012 numbering; SGD_SM2_*_OLD is the pre-2012 draft) */
#define SGD_SM1_ECB 0x00000101u
#define SGD_SSF33_ECB 0x00000201u
#define SGD_SM4_ECB 0x00000401u
#define SGD_SM4_CBC 0x00000402u
#define SGD_SM4_CFB 0x00000404u
#define SGD_SM4_OFB 0x00000408u
#define SGD_SM4_MAC 0x00000410u
#define SGD_RSA 0x00010000u
#define SGD_SM2 0x00020100u
#define SGD_SM2_1 0x00020200u
#define SGD_SM2_2 0x00020400u
#define SGD_SM2_3 0x00020800u
#define SGD_SM2_1_OLD 0x00020100u
#define SGD_SM2_2_OLD 0x00020200u
#define SGD_SM2_3_OLD 0x00020400u
#define SGD_SM3 0x00000001u
#define SGD_SHA1 0x00000002u
#define SGD_SHA256 0x00000004u

/* Return codes */
#define SAR_OK 0x00000000u
#define SAR_FAIL 0x0A000001u
#define SAR_UNKNOWNERR 0x0A000002u
#define SAR_NOTSUPPORTYETERR 0x0A000003u
#define SAR_FILEERR 0x0A000004u
#define SAR_INVALIDHANDLEERR 0x0A000005u
#define SAR_INVALIDPARAMERR 0x0A000006u
#define SAR_READFILEERR 0x0A000007u
#define SAR_WRITEFILEERR 0x0A000008u
#define SAR_NAMELENERR 0x0A000009u
#define SAR_KEYUSAGEERR 0x0A00000Au
#define SAR_MODULUSLENERR 0x0A00000Bu
#define SAR_NOTINITIALIZEERR 0x0A00000Cu
#define SAR_OBJERR 0x0A00000Du
#define SAR_MEMORYERR 0x0A00000Eu
#define SAR_TIMEOUTERR 0x0A00000Fu
#define SAR_INDATALENERR 0x0A000010u
#define SAR_INDATAERR 0x0A000011u
#define SAR_GENRANDERR 0x0A000012u
#define SAR_HASHOBJERR 0x0A000013u
#define SAR_HASHERR 0x0A000014u
#define SAR_GENRSAKEYERR 0x0A000015u
#define SAR_RSAMODULUSLENERR 0x0A000016u
#define SAR_CSPIMPRTPUBKEYERR 0x0A000017u
#define SAR_RSAENCERR 0x0A000018u
#define SAR_RSADECERR 0x0A000019u
#define SAR_HASHNOTEQUALERR 0x0A00001Au
#define SAR_KEYNOTFOUNTERR 0x0A00001Bu
#define SAR_CERTNOTFOUNTERR 0x0A00001Cu
#define SAR_NOTEXPORTERR 0x0A00001Du
#define SAR_DECRYPTPADERR 0x0A00001Eu
#define SAR_MACLENERR 0x0A00001Fu
#define SAR_BUFFER_TOO_SMALL 0x0A000020u
#define SAR_KEYINFOTYPEERR 0x0A000021u
#define SAR_NOT_EVENTERR 0x0A000022u
#define SAR_DEVICE_REMOVED 0x0A000023u
#define SAR_PIN_INCORRECT 0x0A000024u
#define SAR_PIN_LOCKED 0x0A000025u
#define SAR_PIN_INVALID 0x0A000026u
#define SAR_PIN_LEN_RANGE 0x0A000027u
#define SAR_USER_ALREADY_LOGGED_IN 0x0A000028u
#define SAR_USER_PIN_NOT_INITIALIZED 0x0A000029u
#define SAR_USER_TYPE_INVALID 0x0A00002Au
#define SAR_APPLICATION_NAME_INVALID 0x0A00002Bu
#define SAR_APPLICATION_EXISTS 0x0A00002Cu
#define SAR_USER_NOT_LOGGED_IN 0x0A00002Du
#define SAR_APPLICATION_NOT_EXISTS 0x0A00002Eu
#define SAR_FILE_ALREADY_EXIST 0x0A00002Fu
#define SAR_NO_ROOM 0x0A000030u
#define SAR_FILE_NOT_EXIST 0x0A000031u
#define SAR_REACH_MAX_CONTAINER_COUNT 0x0A000032u

#pragma pack(push, 1)

typedef struct {
    BYTE major;
    BYTE minor;
} VERSION;

typedef struct {
    VERSION Version;
    CHAR Manufacturer[64];
    CHAR Issuer[64];
    CHAR Label[32];
    CHAR SerialNumber[32];
    VERSION HWVersion;
    VERSION FirmwareVersion;
    ULONG AlgSymCap;
    ULONG AlgAsymCap;
    ULONG AlgHashCap;
    ULONG DevAuthAlgId;
    ULONG TotalSpace;
    ULONG FreeSpace;
    ULONG MaxECCBufferSize;
    ULONG MaxBufferSize;
    BYTE Reserved[64];
} DEVINFO;

typedef struct {
    ULONG AlgID;
    ULONG BitLen;
    BYTE Modulus[MAX_RSA_MODULUS_LEN];
    BYTE PublicExponent[MAX_RSA_EXPONENT_LEN];
} RSAPUBLICKEYBLOB;

typedef struct {
    ULONG AlgID;
    ULONG BitLen;
    BYTE Modulus[MAX_RSA_MODULUS_LEN];
    BYTE PublicExponent[MAX_RSA_EXPONENT_LEN];
    BYTE PrivateExponent[MAX_RSA_MODULUS_LEN];
    BYTE Prime1[MAX_RSA_MODULUS_LEN / 2];
    BYTE Prime2[MAX_RSA_MODULUS_LEN / 2];
    BYTE Prime1Exponent[MAX_RSA_MODULUS_LEN / 2];
    BYTE Prime2Exponent[MAX_RSA_MODULUS_LEN / 2];
    BYTE Coefficient[MAX_RSA_MODULUS_LEN / 2];
} RSAPRIVATEKEYBLOB;

typedef struct {
    ULONG BitLen;
    BYTE XCoordinate[ECC_MAX_XCOORDINATE_BITS_LEN / 8];
    BYTE YCoordinate[ECC_MAX_YCOORDINATE_BITS_LEN / 8];
} ECCPUBLICKEYBLOB;

typedef struct {
    ULONG BitLen;
    BYTE PrivateKey[ECC_MAX_MODULUS_BITS_LEN / 8];
} ECCPRIVATEKEYBLOB;

typedef struct {
    BYTE XCoordinate[ECC_MAX_XCOORDINATE_BITS_LEN / 8];
    BYTE YCoordinate[ECC_MAX_YCOORDINATE_BITS_LEN / 8];
    BYTE HASH[32];
    ULONG CipherLen;
    BYTE Cipher[1]; /* CipherLen bytes in practice: the caller sizes the whole blob */
} ECCCIPHERBLOB;

typedef struct {
    BYTE r[ECC_MAX_XCOORDINATE_BITS_LEN / 8];
    BYTE s[ECC_MAX_XCOORDINATE_BITS_LEN / 8];
} ECCSIGNATUREBLOB;

typedef struct {
    BYTE IV[MAX_IV_LEN];
    ULONG IVLen;
    ULONG PaddingType;
    ULONG FeedBitLen;
} BLOCKCIPHERPARAM;

typedef struct {
    CHAR FileName[MAX_FILE_NAME_SIZE];
    ULONG FileSize;
    ULONG ReadRights;
    ULONG WriteRights;
} FILEATTRIBUTE;

typedef struct {
    ULONG Version;
    ULONG ulSymmAlgID;
    ULONG ulBits;
    BYTE cbEncryptedPriKey[64];
    ECCPUBLICKEYBLOB PubKey;
    ECCCIPHERBLOB ECCCipherBlob;
} ENVELOPEDKEYBLOB;

#pragma pack(pop)

/* 7.1 Device management */
SKF_EXPORT ULONG SKF_WaitForDevEvent(LPSTR szDevName, ULONG *pulDevNameLen, ULONG *pulEvent);
SKF_EXPORT ULONG SKF_CancelWaitForDevEvent(void);
SKF_EXPORT ULONG SKF_EnumDev(BOOL bPresent, LPSTR szNameList, ULONG *pulSize);
SKF_EXPORT ULONG SKF_ConnectDev(LPSTR szName, DEVHANDLE *phDev);
SKF_EXPORT ULONG SKF_DisConnectDev(DEVHANDLE hDev);
SKF_EXPORT ULONG SKF_GetDevState(LPSTR szDevName, ULONG *pulDevState);
SKF_EXPORT ULONG SKF_SetLabel(DEVHANDLE hDev, LPSTR szLabel);
SKF_EXPORT ULONG SKF_GetDevInfo(DEVHANDLE hDev, DEVINFO *pDevInfo);
SKF_EXPORT ULONG SKF_LockDev(DEVHANDLE hDev, ULONG ulTimeOut);
SKF_EXPORT ULONG SKF_UnlockDev(DEVHANDLE hDev);
SKF_EXPORT ULONG SKF_Transmit(DEVHANDLE hDev, BYTE *pbCommand, ULONG ulCommandLen, BYTE *pbData,
                              ULONG *pulDataLen);

/* 7.2 Access control */
SKF_EXPORT ULONG SKF_ChangeDevAuthKey(DEVHANDLE hDev, BYTE *pbKeyValue, ULONG ulKeyLen);
SKF_EXPORT ULONG SKF_DevAuth(DEVHANDLE hDev, BYTE *pbAuthData, ULONG ulLen);
SKF_EXPORT ULONG SKF_ChangePIN(HAPPLICATION hApplication, ULONG ulPINType, LPSTR szOldPin,
                               LPSTR szNewPin, ULONG *pulRetryCount);
SKF_EXPORT ULONG SKF_GetPINInfo(HAPPLICATION hApplication, ULONG ulPINType, ULONG *pulMaxRetryCount,
                                ULONG *pulRemainRetryCount, BOOL *pbDefaultPin);
SKF_EXPORT ULONG SKF_VerifyPIN(HAPPLICATION hApplication, ULONG ulPINType, LPSTR szPIN,
                               ULONG *pulRetryCount);
SKF_EXPORT ULONG SKF_UnblockPIN(HAPPLICATION hApplication, LPSTR szAdminPIN, LPSTR szNewUserPIN,
                                ULONG *pulRetryCount);
SKF_EXPORT ULONG SKF_ClearSecureState(HAPPLICATION hApplication);

/* 7.3 Application management */
SKF_EXPORT ULONG SKF_CreateApplication(DEVHANDLE hDev, LPSTR szAppName, LPSTR szAdminPin,
                                       DWORD dwAdminPinRetryCount, LPSTR szUserPin,
                                       DWORD dwUserPinRetryCount, DWORD dwCreateFileRights,
                                       HAPPLICATION *phApplication);
SKF_EXPORT ULONG SKF_EnumApplication(DEVHANDLE hDev, LPSTR szAppName, ULONG *pulSize);
SKF_EXPORT ULONG SKF_DeleteApplication(DEVHANDLE hDev, LPSTR szAppName);
SKF_EXPORT ULONG SKF_OpenApplication(DEVHANDLE hDev, LPSTR szAppName, HAPPLICATION *phApplication);
SKF_EXPORT ULONG SKF_CloseApplication(HAPPLICATION hApplication);

/* 7.4 File management */
SKF_EXPORT ULONG SKF_CreateFile(HAPPLICATION hApplication, LPSTR szFileName, ULONG ulFileSize,
                                ULONG ulReadRights, ULONG ulWriteRights);
SKF_EXPORT ULONG SKF_DeleteFile(HAPPLICATION hApplication, LPSTR szFileName);
SKF_EXPORT ULONG SKF_EnumFiles(HAPPLICATION hApplication, LPSTR szFileList, ULONG *pulSize);
SKF_EXPORT ULONG SKF_GetFileInfo(HAPPLICATION hApplication, LPSTR szFileName,
                                 FILEATTRIBUTE *pFileInfo);
SKF_EXPORT ULONG SKF_ReadFile(HAPPLICATION hApplication, LPSTR szFileName, ULONG ulOffset,
                              ULONG ulSize, BYTE *pbOutData, ULONG *pulOutLen);
SKF_EXPORT ULONG SKF_WriteFile(HAPPLICATION hApplication, LPSTR szFileName, ULONG ulOffset,
                               BYTE *pbData, ULONG ulSize);

/* 7.5 Container management */
SKF_EXPORT ULONG SKF_CreateContainer(HAPPLICATION hApplication, LPSTR szContainerName,
                                     HCONTAINER *phContainer);
SKF_EXPORT ULONG SKF_DeleteContainer(HAPPLICATION hApplication, LPSTR szContainerName);
SKF_EXPORT ULONG SKF_OpenContainer(HAPPLICATION hApplication, LPSTR szContainerName,
                                   HCONTAINER *phContainer);
SKF_EXPORT ULONG SKF_CloseContainer(HCONTAINER hContainer);
SKF_EXPORT ULONG SKF_EnumContainer(HAPPLICATION hApplication, LPSTR szContainerName, ULONG *pulSize);
SKF_EXPORT ULONG SKF_GetContainerType(HCONTAINER hContainer, ULONG *pulContainerType);
SKF_EXPORT ULONG SKF_GetContianerType(HCONTAINER hContainer, ULONG *pulContainerType);
SKF_EXPORT ULONG SKF_ImportCertificate(HCONTAINER hContainer, BOOL bSignFlag, BYTE *pbCert,
                                       ULONG ulCertLen);
SKF_EXPORT ULONG SKF_ExportCertificate(HCONTAINER hContainer, BOOL bSignFlag, BYTE *pbCert,
                                       ULONG *pulCertLen);

/* 7.6 Cryptographic services */
SKF_EXPORT ULONG SKF_GenRandom(DEVHANDLE hDev, BYTE *pbRandom, ULONG ulRandomLen);
SKF_EXPORT ULONG SKF_GenExtRSAKey(DEVHANDLE hDev, ULONG ulBitsLen, RSAPRIVATEKEYBLOB *pBlob);
SKF_EXPORT ULONG SKF_GenRSAKeyPair(HCONTAINER hContainer, ULONG ulBitsLen, RSAPUBLICKEYBLOB *pBlob);
SKF_EXPORT ULONG SKF_ImportRSAKeyPair(HCONTAINER hContainer, ULONG ulSymAlgId, BYTE *pbWrappedKey,
                                      ULONG ulWrappedKeyLen, BYTE *pbEncryptedData,
                                      ULONG ulEncryptedDataLen);
SKF_EXPORT ULONG SKF_RSASignData(HCONTAINER hContainer, BYTE *pbData, ULONG ulDataLen,
                                 BYTE *pbSignature, ULONG *pulSignLen);
SKF_EXPORT ULONG SKF_RSAVerify(DEVHANDLE hDev, RSAPUBLICKEYBLOB *pRSAPubKeyBlob, BYTE *pbData,
                               ULONG ulDataLen, BYTE *pbSignature, ULONG ulSignLen);
SKF_EXPORT ULONG SKF_ExtRSAPubKeyOperation(DEVHANDLE hDev, RSAPUBLICKEYBLOB *pRSAPubKeyBlob,
                                           BYTE *pbInput, ULONG ulInputLen, BYTE *pbOutput,
                                           ULONG *pulOutputLen);
SKF_EXPORT ULONG SKF_ExtRSAPriKeyOperation(DEVHANDLE hDev, RSAPRIVATEKEYBLOB *pRSAPriKeyBlob,
                                           BYTE *pbInput, ULONG ulInputLen, BYTE *pbOutput,
                                           ULONG *pulOutputLen);
SKF_EXPORT ULONG SKF_GenECCKeyPair(HCONTAINER hContainer, ULONG ulAlgId, ECCPUBLICKEYBLOB *pBlob);
SKF_EXPORT ULONG SKF_ImportECCKeyPair(HCONTAINER hContainer, ENVELOPEDKEYBLOB *pEnvelopedKeyBlob);
SKF_EXPORT ULONG SKF_ECCSignData(HCONTAINER hContainer, BYTE *pbDigest, ULONG ulDigestLen,
                                 ECCSIGNATUREBLOB *pSignature);
SKF_EXPORT ULONG SKF_ECCVerify(DEVHANDLE hDev, ECCPUBLICKEYBLOB *pECCPubKeyBlob, BYTE *pbData,
                               ULONG ulDataLen, ECCSIGNATUREBLOB *pSignature);
SKF_EXPORT ULONG SKF_ExtECCEncrypt(DEVHANDLE hDev, ECCPUBLICKEYBLOB *pECCPubKeyBlob,
                                   BYTE *pbPlainText, ULONG ulPlainTextLen,
                                   ECCCIPHERBLOB *pCipherText);
SKF_EXPORT ULONG SKF_ExtECCDecrypt(DEVHANDLE hDev, ECCPRIVATEKEYBLOB *pECCPriKeyBlob,
                                   ECCCIPHERBLOB *pCipherText, BYTE *pbPlainText,
                                   ULONG *pulPlainTextLen);
SKF_EXPORT ULONG SKF_ExtECCSign(DEVHANDLE hDev, ECCPRIVATEKEYBLOB *pECCPriKeyBlob, BYTE *pbData,
                                ULONG ulDataLen, ECCSIGNATUREBLOB *pSignature);
SKF_EXPORT ULONG SKF_ExtECCVerify(DEVHANDLE hDev, ECCPUBLICKEYBLOB *pECCPubKeyBlob, BYTE *pbData,
                                  ULONG ulDataLen, ECCSIGNATUREBLOB *pSignature);
SKF_EXPORT ULONG SKF_ExportPublicKey(HCONTAINER hContainer, BOOL bSignFlag, BYTE *pbBlob,
                                     ULONG *pulBlobLen);
SKF_EXPORT ULONG SKF_ImportSessionKey(HCONTAINER hContainer, ULONG ulAlgId, BYTE *pbWrapedData,
                                      ULONG ulWrapedLen, HANDLE *phKey);
SKF_EXPORT ULONG SKF_SetSymmKey(DEVHANDLE hDev, BYTE *pbKey, ULONG ulAlgID, HANDLE *phKey);
SKF_EXPORT ULONG SKF_EncryptInit(HANDLE hKey, BLOCKCIPHERPARAM EncryptParam);
SKF_EXPORT ULONG SKF_Encrypt(HANDLE hKey, BYTE *pbData, ULONG ulDataLen, BYTE *pbEncryptedData,
                             ULONG *pulEncryptedLen);
SKF_EXPORT ULONG SKF_EncryptUpdate(HANDLE hKey, BYTE *pbData, ULONG ulDataLen,
                                   BYTE *pbEncryptedData, ULONG *pulEncryptedLen);
SKF_EXPORT ULONG SKF_EncryptFinal(HANDLE hKey, BYTE *pbEncryptedData, ULONG *pulEncryptedDataLen);
SKF_EXPORT ULONG SKF_DecryptInit(HANDLE hKey, BLOCKCIPHERPARAM DecryptParam);
SKF_EXPORT ULONG SKF_Decrypt(HANDLE hKey, BYTE *pbEncryptedData, ULONG ulEncryptedLen, BYTE *pbData,
                             ULONG *pulDataLen);
SKF_EXPORT ULONG SKF_DecryptUpdate(HANDLE hKey, BYTE *pbEncryptedData, ULONG ulEncryptedLen,
                                   BYTE *pbData, ULONG *pulDataLen);
SKF_EXPORT ULONG SKF_DecryptFinal(HANDLE hKey, BYTE *pbDecryptedData, ULONG *pulDecryptedDataLen);
SKF_EXPORT ULONG SKF_DigestInit(DEVHANDLE hDev, ULONG ulAlgID, ECCPUBLICKEYBLOB *pPubKey,
                                BYTE *pbID, ULONG ulIDLen, HANDLE *phHash);
SKF_EXPORT ULONG SKF_Digest(HANDLE hHash, BYTE *pbData, ULONG ulDataLen, BYTE *pbHashData,
                            ULONG *pulHashLen);
SKF_EXPORT ULONG SKF_DigestUpdate(HANDLE hHash, BYTE *pbData, ULONG ulDataLen);
SKF_EXPORT ULONG SKF_DigestFinal(HANDLE hHash, BYTE *pHashData, ULONG *pulHashLen);
SKF_EXPORT ULONG SKF_MacInit(HANDLE hKey, BLOCKCIPHERPARAM *pMacParam, HANDLE *phMac);
SKF_EXPORT ULONG SKF_Mac(HANDLE hMac, BYTE *pbData, ULONG ulDataLen, BYTE *pbMacData, ULONG *pulMacLen);
SKF_EXPORT ULONG SKF_MacUpdate(HANDLE hMac, BYTE *pbData, ULONG ulDataLen);
SKF_EXPORT ULONG SKF_MacFinal(HANDLE hMac, BYTE *pbMacData, ULONG *pulMacDataLen);
SKF_EXPORT ULONG SKF_ECCExportSessionKey(HCONTAINER hContainer, ULONG ulAlgId, ECCPUBLICKEYBLOB *pPubKey,
                                         ECCCIPHERBLOB *pData, HANDLE *phSessionKey);
SKF_EXPORT ULONG SKF_RSAExportSessionKey(HCONTAINER hContainer, ULONG ulAlgId, RSAPUBLICKEYBLOB *pPubKey,
                                         BYTE *pbData, ULONG *pulDataLen, HANDLE *phSessionKey);
SKF_EXPORT ULONG SKF_CloseHandle(HANDLE hHandle);

/* Common vendor extra (not in GM/T 0016-2012): decrypt with the container's encryption key */
SKF_EXPORT ULONG SKF_ECCDecrypt(HCONTAINER hContainer, ECCCIPHERBLOB *pCipherText,
                                BYTE *pbPlainText, ULONG *pulPlainTextLen);

#ifdef __cplusplus
}
#endif
#endif
