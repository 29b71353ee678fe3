/* sitoken._native: what Python sees. This file is the cffi cdef, so it holds only
 * declarations cffi can parse: no #include, no include guard, and #define lines that are
 * plain integer constants. The C file includes <stddef.h> before it.
 *
 * The PKCS#11 types below are written from the PKCS#11 v2.40 base specification
 * (section 3, "Data types"), for the Unix ABI: CK_ULONG is unsigned long and structures
 * use the platform's default alignment.
 */

typedef unsigned char CK_BYTE;
typedef unsigned char CK_CHAR;
typedef unsigned char CK_UTF8CHAR;
typedef unsigned long CK_ULONG;
typedef CK_ULONG CK_RV;
typedef CK_ULONG CK_FLAGS;
typedef CK_ULONG CK_SLOT_ID;
typedef CK_ULONG CK_SESSION_HANDLE;
typedef CK_ULONG CK_OBJECT_HANDLE;
typedef CK_ULONG CK_MECHANISM_TYPE;
typedef CK_ULONG CK_USER_TYPE;
typedef CK_ULONG CK_RSA_PKCS_MGF_TYPE;

typedef struct CK_VERSION {
    CK_BYTE major;
    CK_BYTE minor;
} CK_VERSION;

typedef struct CK_RSA_PKCS_PSS_PARAMS {
    CK_MECHANISM_TYPE hashAlg;
    CK_RSA_PKCS_MGF_TYPE mgf;
    CK_ULONG sLen;
} CK_RSA_PKCS_PSS_PARAMS;

typedef struct CK_TOKEN_INFO {
    CK_UTF8CHAR label[32];
    CK_UTF8CHAR manufacturerID[32];
    CK_UTF8CHAR model[16];
    CK_CHAR serialNumber[16];
    CK_FLAGS flags;
    CK_ULONG ulMaxSessionCount;
    CK_ULONG ulSessionCount;
    CK_ULONG ulMaxRwSessionCount;
    CK_ULONG ulRwSessionCount;
    CK_ULONG ulMaxPinLen;
    CK_ULONG ulMinPinLen;
    CK_ULONG ulTotalPublicMemory;
    CK_ULONG ulFreePublicMemory;
    CK_ULONG ulTotalPrivateMemory;
    CK_ULONG ulFreePrivateMemory;
    CK_VERSION hardwareVersion;
    CK_VERSION firmwareVersion;
    CK_CHAR utcTime[16];
} CK_TOKEN_INFO;

/* Return values used by name in sitoken's C and Python code. */
#define CKR_OK 0x0
#define CKR_HOST_MEMORY 0x2
#define CKR_GENERAL_ERROR 0x5
#define CKR_FUNCTION_FAILED 0x6
#define CKR_ARGUMENTS_BAD 0x7
#define CKR_KEY_HANDLE_INVALID 0x60
#define CKR_KEY_TYPE_INCONSISTENT 0x63
#define CKR_MECHANISM_INVALID 0x70
#define CKR_OBJECT_HANDLE_INVALID 0x82
#define CKR_PIN_INCORRECT 0xA0
#define CKR_USER_ALREADY_LOGGED_IN 0x100
#define CKR_USER_NOT_LOGGED_IN 0x101
#define CKR_BUFFER_TOO_SMALL 0x150
#define CKR_CRYPTOKI_NOT_INITIALIZED 0x190
#define CKR_CRYPTOKI_ALREADY_INITIALIZED 0x191

#define CKF_OS_LOCKING_OK 0x2
#define CKF_RW_SESSION 0x2
#define CKF_SERIAL_SESSION 0x4
#define CKU_SO 0
#define CKU_USER 1

#define CKM_RSA_PKCS 0x1
#define CKM_RSA_PKCS_PSS 0xD
#define CKM_SHA256_RSA_PKCS 0x40
#define CKM_ECDSA 0x1041
#define CKM_EDDSA 0x1057
#define CKM_SHA256 0x250
#define CKM_SHA384 0x260
#define CKM_SHA512 0x270
#define CKG_MGF1_SHA256 0x2
#define CKG_MGF1_SHA384 0x3
#define CKG_MGF1_SHA512 0x4

/* sitoken_sign_batch flags */
#define SITOKEN_ECDSA_DER 0x1

/* A loaded PKCS#11 module: the dlopen handle and its function list (opaque to Python). */
typedef struct sitoken_module sitoken_module;

/* Where a batch stopped: the first input that failed, the code and the call that failed.
 * `function` points to a static string. */
typedef struct sitoken_batch_error {
    CK_RV rv;
    size_t index;
    const char *function;
} sitoken_batch_error;

const char *sitoken_native_version(void);

CK_RV sitoken_module_open(const char *path, sitoken_module **out, char *errbuf, size_t errbuf_len);
void sitoken_module_close(sitoken_module *mod);
CK_RV sitoken_module_initialize(sitoken_module *mod, int *already_initialized);
CK_RV sitoken_module_reinitialize_os_locking(sitoken_module *mod);
CK_RV sitoken_module_finalize(sitoken_module *mod);
int sitoken_module_os_locking(const sitoken_module *mod);
int sitoken_function_list_check(const sitoken_module *mod);

CK_RV sitoken_get_token_info(const sitoken_module *mod, CK_SLOT_ID slot, CK_TOKEN_INFO *info);
CK_RV sitoken_init_token(const sitoken_module *mod, CK_SLOT_ID slot, unsigned char *so_pin,
                         CK_ULONG so_pin_len, const unsigned char *label32);
CK_RV sitoken_login(const sitoken_module *mod, CK_SLOT_ID slot, CK_USER_TYPE user_type,
                    unsigned char *pin, CK_ULONG pin_len, CK_SESSION_HANDLE *session);
CK_RV sitoken_logout(const sitoken_module *mod, CK_SESSION_HANDLE session);

CK_RV sitoken_sign_batch(const sitoken_module *mod, CK_SLOT_ID slot, CK_OBJECT_HANDLE key,
                         CK_MECHANISM_TYPE mechanism, void *param, CK_ULONG param_len,
                         const unsigned char *data, const size_t *offsets, size_t count,
                         unsigned char *out, size_t stride, size_t *out_lens,
                         unsigned int threads, unsigned int flags, sitoken_batch_error *err);

CK_RV sitoken_bench_reference(const sitoken_module *mod, CK_SLOT_ID slot, CK_OBJECT_HANDLE key,
                              CK_MECHANISM_TYPE mechanism, void *param, CK_ULONG param_len,
                              const unsigned char *data, size_t data_len, size_t count,
                              unsigned char *out, size_t out_size, size_t *out_len,
                              sitoken_batch_error *err);
