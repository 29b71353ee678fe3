/* sitoken._native: what Python sees besides the PKCS#11 declarations (cryptoki.h, parsed
 * first). This file is part of the cffi cdef, so it holds only declarations cffi can parse:
 * no #include, no include guard, and #define lines that are plain integer constants.
 *
 * The extension does not call a module on its own: it loads it once (dlopen +
 * C_GetFunctionList) and otherwise runs on the function list and the sessions Python hands it,
 * so a session opened by the driver means the same thing here (p11-kit's client and proxy
 * modules hand out a new instance per C_GetFunctionList).
 */

/* What a sitoken_* call returns. SITOKEN_E_MODULE: a PKCS#11 call failed, the error record
 * names the call and its CK_RV. The others are failures found by this file. */
#define SITOKEN_OK 0
#define SITOKEN_E_MODULE 1
#define SITOKEN_E_ARGUMENTS 2
#define SITOKEN_E_MEMORY 3
#define SITOKEN_E_LENGTH 4
#define SITOKEN_E_ENCODING 5
#define SITOKEN_E_LOAD 6

/* sitoken_sign_batch flags */
#define SITOKEN_ECDSA_DER 1

/* Where a batch stopped: the first input that failed, the module's code and the call that
 * failed (or the check of this file that refused it). `function` points to a static string;
 * `length` is the length a module returned when it was longer than the buffer given. */
typedef struct sitoken_batch_error {
    int status;
    CK_RV rv;
    size_t index;
    const char *function;
    unsigned long length;
} sitoken_batch_error;

const char *sitoken_native_version(void);

int sitoken_module_load(const char *path, CK_FUNCTION_LIST **out, CK_RV *rv, char *errbuf,
                        size_t errbuf_len);

int sitoken_sign_batch(CK_FUNCTION_LIST *fl, const CK_SESSION_HANDLE *sessions,
                       size_t nsessions, CK_OBJECT_HANDLE key, CK_MECHANISM_TYPE mechanism,
                       void *param, CK_ULONG param_len, const unsigned char *data,
                       const size_t *offsets, size_t count, unsigned char *out, size_t stride,
                       size_t *out_lens, unsigned int flags, sitoken_batch_error *err);

int sitoken_bench_reference(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE session,
                            CK_OBJECT_HANDLE key, CK_MECHANISM_TYPE mechanism, void *param,
                            CK_ULONG param_len, const unsigned char *data, size_t data_len,
                            size_t count, unsigned char *out, size_t out_size, size_t *out_len,
                            sitoken_batch_error *err);
