/* sitoken._native: module and token initialisation, login, and batch signing through any
 * PKCS#11 module. cffi releases the GIL around every call into this file, so each function
 * here is one Python -> C transition, however much work it does.
 */
#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dlfcn.h>
#include <pthread.h>

#include "sitoken_native.h"
#include "sitoken_pkcs11.h"

#ifndef SITOKEN_VERSION
#error "SITOKEN_VERSION must come from the build (native/build_native.py)"
#endif

struct sitoken_module {
    void *dl;
    CK_FUNCTION_LIST *fl;
    /* Set only when sitoken itself initialised the module with CKF_OS_LOCKING_OK. */
    int os_locking;
};

const char *sitoken_native_version(void)
{
    return SITOKEN_VERSION;
}

/* volatile keeps the compiler from dropping stores to a buffer it sees as dead. */
static void wipe(unsigned char *buf, size_t len)
{
    volatile unsigned char *p = buf;
    while (len--)
        *p++ = 0;
}

static void report(char *errbuf, size_t errbuf_len, const char *what, const char *detail)
{
    if (errbuf && errbuf_len)
        snprintf(errbuf, errbuf_len, "%s: %s", what, detail ? detail : "unknown error");
}

/* ---- module ------------------------------------------------------------------------ */

CK_RV sitoken_module_open(const char *path, sitoken_module **out, char *errbuf, size_t errbuf_len)
{
    sitoken_module *mod;
    CK_C_GetFunctionList get_function_list;
    void *sym;
    CK_RV rv;

    if (!path || !out)
        return CKR_ARGUMENTS_BAD;
    *out = NULL;
    mod = calloc(1, sizeof *mod);
    if (!mod)
        return CKR_HOST_MEMORY;
    /* A module python-pkcs11 already loaded comes back as the same handle (dlopen counts
     * references), so both libraries drive one PKCS#11 state. RTLD_NOW makes a broken
     * module fail here rather than in the middle of a batch. */
    mod->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!mod->dl) {
        report(errbuf, errbuf_len, "dlopen", dlerror());
        free(mod);
        return CKR_GENERAL_ERROR;
    }
    sym = dlsym(mod->dl, "C_GetFunctionList");
    if (!sym) {
        report(errbuf, errbuf_len, "dlsym C_GetFunctionList", dlerror());
        rv = CKR_GENERAL_ERROR;
        goto fail;
    }
    /* POSIX guarantees a dlsym result converts to a function pointer; memcpy says so
     * without a cast ISO C does not define. */
    memcpy(&get_function_list, &sym, sizeof get_function_list);
    rv = get_function_list(&mod->fl);
    if (rv == CKR_OK && !mod->fl)
        rv = CKR_GENERAL_ERROR;
    if (rv != CKR_OK) {
        report(errbuf, errbuf_len, "C_GetFunctionList", "failed");
        goto fail;
    }
    *out = mod;
    return CKR_OK;
fail:
    dlclose(mod->dl);
    free(mod);
    return rv;
}

void sitoken_module_close(sitoken_module *mod)
{
    if (!mod)
        return;
    dlclose(mod->dl);
    free(mod);
}

static CK_RV initialize_os_locking(sitoken_module *mod)
{
    CK_C_INITIALIZE_ARGS args;

    memset(&args, 0, sizeof args);
    /* No mutex callbacks: the module uses the OS primitives. SoftHSM keeps its internal
     * locks on only when it is given arguments like these. */
    args.flags = CKF_OS_LOCKING_OK;
    return mod->fl->C_Initialize(&args);
}

CK_RV sitoken_module_initialize(sitoken_module *mod, int *already_initialized)
{
    CK_RV rv;

    if (!mod)
        return CKR_ARGUMENTS_BAD;
    rv = initialize_os_locking(mod);
    if (already_initialized)
        *already_initialized = rv == CKR_CRYPTOKI_ALREADY_INITIALIZED;
    if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED)
        return CKR_OK; /* someone else's arguments, unknown to us: os_locking stays as is */
    if (rv == CKR_OK)
        mod->os_locking = 1;
    return rv;
}

CK_RV sitoken_module_reinitialize_os_locking(sitoken_module *mod)
{
    CK_RV rv;

    if (!mod)
        return CKR_ARGUMENTS_BAD;
    rv = mod->fl->C_Finalize(NULL);
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_NOT_INITIALIZED)
        return rv;
    mod->os_locking = 0;
    rv = initialize_os_locking(mod);
    if (rv == CKR_OK)
        mod->os_locking = 1;
    return rv;
}

CK_RV sitoken_module_finalize(sitoken_module *mod)
{
    CK_RV rv;

    if (!mod)
        return CKR_ARGUMENTS_BAD;
    rv = mod->fl->C_Finalize(NULL);
    if (rv == CKR_OK || rv == CKR_CRYPTOKI_NOT_INITIALIZED)
        mod->os_locking = 0;
    return rv;
}

int sitoken_module_os_locking(const sitoken_module *mod)
{
    return mod ? mod->os_locking : 0;
}

struct function_slot {
    const char *name;
    size_t offset;
};

#define SLOT(f) { #f, offsetof(CK_FUNCTION_LIST, f) }
static const struct function_slot function_slots[] = {
    SLOT(C_Initialize), SLOT(C_Finalize), SLOT(C_GetInfo), SLOT(C_GetFunctionList),
    SLOT(C_GetSlotList), SLOT(C_GetSlotInfo), SLOT(C_GetTokenInfo), SLOT(C_GetMechanismList),
    SLOT(C_GetMechanismInfo), SLOT(C_InitToken), SLOT(C_InitPIN), SLOT(C_SetPIN),
    SLOT(C_OpenSession), SLOT(C_CloseSession), SLOT(C_CloseAllSessions),
    SLOT(C_GetSessionInfo), SLOT(C_GetOperationState), SLOT(C_SetOperationState),
    SLOT(C_Login), SLOT(C_Logout), SLOT(C_CreateObject), SLOT(C_CopyObject),
    SLOT(C_DestroyObject), SLOT(C_GetObjectSize), SLOT(C_GetAttributeValue),
    SLOT(C_SetAttributeValue), SLOT(C_FindObjectsInit), SLOT(C_FindObjects),
    SLOT(C_FindObjectsFinal), SLOT(C_EncryptInit), SLOT(C_Encrypt), SLOT(C_EncryptUpdate),
    SLOT(C_EncryptFinal), SLOT(C_DecryptInit), SLOT(C_Decrypt), SLOT(C_DecryptUpdate),
    SLOT(C_DecryptFinal), SLOT(C_DigestInit), SLOT(C_Digest), SLOT(C_DigestUpdate),
    SLOT(C_DigestKey), SLOT(C_DigestFinal), SLOT(C_SignInit), SLOT(C_Sign),
    SLOT(C_SignUpdate), SLOT(C_SignFinal), SLOT(C_SignRecoverInit), SLOT(C_SignRecover),
    SLOT(C_VerifyInit), SLOT(C_Verify), SLOT(C_VerifyUpdate), SLOT(C_VerifyFinal),
    SLOT(C_VerifyRecoverInit), SLOT(C_VerifyRecover), SLOT(C_DigestEncryptUpdate),
    SLOT(C_DecryptDigestUpdate), SLOT(C_SignEncryptUpdate), SLOT(C_DecryptVerifyUpdate),
    SLOT(C_GenerateKey), SLOT(C_GenerateKeyPair), SLOT(C_WrapKey), SLOT(C_UnwrapKey),
    SLOT(C_DeriveKey), SLOT(C_SeedRandom), SLOT(C_GenerateRandom), SLOT(C_GetFunctionStatus),
    SLOT(C_CancelFunction), SLOT(C_WaitForSlotEvent),
};
#undef SLOT

/* The function list is declared by hand, so check it against the module: every slot must
 * hold the symbol the module exports under that name. Returns 0 when all match, the
 * 1-based slot of the first mismatch, or -1 for a bad argument. */
int sitoken_function_list_check(const sitoken_module *mod)
{
    size_t n = sizeof function_slots / sizeof function_slots[0];
    size_t i;

    if (!mod || n != 68)
        return -1;
    for (i = 0; i < n; i++) {
        void *exported = dlsym(mod->dl, function_slots[i].name);
        void *listed;

        if (i > 0 && function_slots[i].offset != function_slots[i - 1].offset + sizeof(void *))
            return (int)i + 1;
        if (!exported)
            continue; /* a module need not export every name */
        memcpy(&listed, (const char *)mod->fl + function_slots[i].offset, sizeof listed);
        if (listed != exported)
            return (int)i + 1;
    }
    return 0;
}

/* ---- token and login --------------------------------------------------------------- */

CK_RV sitoken_get_token_info(const sitoken_module *mod, CK_SLOT_ID slot, CK_TOKEN_INFO *info)
{
    if (!mod || !info)
        return CKR_ARGUMENTS_BAD;
    return mod->fl->C_GetTokenInfo(slot, info);
}

CK_RV sitoken_init_token(const sitoken_module *mod, CK_SLOT_ID slot, unsigned char *so_pin,
                         CK_ULONG so_pin_len, const unsigned char *label32)
{
    CK_UTF8CHAR label[32];
    CK_RV rv = CKR_ARGUMENTS_BAD;

    if (mod && label32 && (so_pin || !so_pin_len)) {
        memcpy(label, label32, sizeof label);
        rv = mod->fl->C_InitToken(slot, so_pin, so_pin_len, label);
    }
    if (so_pin)
        wipe(so_pin, so_pin_len);
    return rv;
}

CK_RV sitoken_login(const sitoken_module *mod, CK_SLOT_ID slot, CK_USER_TYPE user_type,
                    unsigned char *pin, CK_ULONG pin_len, CK_SESSION_HANDLE *session)
{
    CK_SESSION_HANDLE s = 0;
    CK_RV rv = CKR_ARGUMENTS_BAD;

    if (!mod || !session || (!pin && pin_len))
        goto out;
    *session = 0;
    /* Read-write: the security officer cannot log in on a read-only session. */
    rv = mod->fl->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
    if (rv != CKR_OK)
        goto out;
    rv = mod->fl->C_Login(s, user_type, pin, pin_len);
    /* The login belongs to the application and ends when its last session closes, so
     * this session stays open until sitoken_logout. */
    if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN)
        *session = s;
    else
        mod->fl->C_CloseSession(s);
out:
    if (pin)
        wipe(pin, pin_len);
    return rv;
}

CK_RV sitoken_logout(const sitoken_module *mod, CK_SESSION_HANDLE session)
{
    CK_RV rv, closed;

    if (!mod)
        return CKR_ARGUMENTS_BAD;
    rv = mod->fl->C_Logout(session);
    closed = mod->fl->C_CloseSession(session);
    return rv != CKR_OK ? rv : closed;
}

/* ---- ECDSA r||s to DER --------------------------------------------------------------- */
/* Done here rather than in Python because on a fast mechanism (P-256 on SoftHSM: ~45 us per
 * signature) a Python re-encoding per signature costs several percent of the batch. */

/* Content length of a DER INTEGER for an unsigned big-endian value: leading zero bytes
 * dropped, one 0x00 added when the top bit is set so the value stays positive. */
static size_t der_int_size(const unsigned char *v, size_t n, size_t *skip)
{
    size_t k = 0;

    while (k + 1 < n && v[k] == 0)
        k++;
    *skip = k;
    return (n - k) + ((v[k] & 0x80) ? 1 : 0);
}

static size_t der_len_size(size_t len)
{
    return len < 0x80 ? 1 : len <= 0xFF ? 2 : 3;
}

static unsigned char *der_put_len(unsigned char *p, size_t len)
{
    if (len >= 0x80 && len <= 0xFF) {
        *p++ = 0x81;
    } else if (len > 0xFF) {
        *p++ = 0x82;
        *p++ = (unsigned char)(len >> 8);
    }
    *p++ = (unsigned char)len;
    return p;
}

static unsigned char *der_put_int(unsigned char *p, const unsigned char *v, size_t n)
{
    size_t skip;
    size_t size = der_int_size(v, n, &skip);

    *p++ = 0x02;
    p = der_put_len(p, size);
    if (v[skip] & 0x80)
        *p++ = 0x00;
    memcpy(p, v + skip, n - skip);
    return p + (n - skip);
}

static int ecdsa_raw_to_der(const unsigned char *raw, size_t raw_len, unsigned char *out,
                            size_t out_size, size_t *out_len)
{
    size_t half = raw_len / 2;
    size_t skip, r, s, body, total;
    unsigned char *p = out;

    if (raw_len == 0 || raw_len % 2 || half > 0x1000)
        return -1;
    r = der_int_size(raw, half, &skip);
    s = der_int_size(raw + half, half, &skip);
    body = 1 + der_len_size(r) + r + 1 + der_len_size(s) + s;
    total = 1 + der_len_size(body) + body;
    if (body > 0xFFFF || total > out_size)
        return -1;
    *p++ = 0x30;
    p = der_put_len(p, body);
    p = der_put_int(p, raw, half);
    p = der_put_int(p, raw + half, half);
    *out_len = (size_t)(p - out);
    return 0;
}

/* ---- batch signing ------------------------------------------------------------------ */

struct batch_job {
    const sitoken_module *mod;
    CK_SLOT_ID slot;
    CK_OBJECT_HANDLE key;
    CK_MECHANISM mechanism;
    const unsigned char *data;
    const size_t *offsets;
    size_t count;
    unsigned char *out;
    size_t stride;
    size_t *out_lens;
    unsigned int flags;
    /* Workers claim inputs one at a time, so a thread slowed by the machine never holds
     * back a fixed share of the batch; each writes only its own output slots. */
    atomic_size_t next;
    atomic_int stop;
    pthread_mutex_t err_lock;
    sitoken_batch_error err;
};

static void set_error(sitoken_batch_error *err, CK_RV rv, size_t index, const char *function)
{
    err->rv = rv;
    err->index = index;
    err->function = function;
}

/* Keeps the lowest failing index. Inputs are claimed in increasing order, so every input
 * below it was claimed earlier and finished before the workers were joined. */
static void record_failure(struct batch_job *job, size_t index, CK_RV rv, const char *function)
{
    pthread_mutex_lock(&job->err_lock);
    if (job->err.rv == CKR_OK || index < job->err.index)
        set_error(&job->err, rv, index, function);
    pthread_mutex_unlock(&job->err_lock);
    atomic_store(&job->stop, 1);
}

static size_t claim(struct batch_job *job)
{
    if (atomic_load_explicit(&job->stop, memory_order_relaxed))
        return job->count;
    return atomic_fetch_add_explicit(&job->next, 1, memory_order_relaxed);
}

static CK_RV sign_one(struct batch_job *job, CK_SESSION_HANDLE s, CK_MECHANISM *mech, size_t i,
                      unsigned char *scratch, const char **function)
{
    const CK_FUNCTION_LIST *fl = job->mod->fl;
    unsigned char *slot_out = job->out + i * job->stride;
    CK_ULONG len = (CK_ULONG)job->stride;
    size_t der_len;
    CK_RV rv;

    rv = fl->C_SignInit(s, mech, job->key);
    if (rv != CKR_OK) {
        *function = "C_SignInit";
        return rv;
    }
    /* C_Sign's prototype predates const; it reads the data only. */
    rv = fl->C_Sign(s, (CK_BYTE *)(job->data + job->offsets[i]),
                    (CK_ULONG)(job->offsets[i + 1] - job->offsets[i]),
                    scratch ? scratch : slot_out, &len);
    if (rv != CKR_OK) {
        *function = "C_Sign";
        return rv;
    }
    if (!scratch) {
        job->out_lens[i] = len;
        return CKR_OK;
    }
    if (ecdsa_raw_to_der(scratch, len, slot_out, job->stride, &der_len) != 0) {
        *function = "sitoken_ecdsa_to_der";
        return CKR_FUNCTION_FAILED;
    }
    job->out_lens[i] = der_len;
    return CKR_OK;
}

static void *batch_worker(void *arg)
{
    struct batch_job *job = arg;
    const CK_FUNCTION_LIST *fl = job->mod->fl;
    /* Each worker passes its own copy: C_SignInit takes a non-const pointer. */
    CK_MECHANISM mech = job->mechanism;
    unsigned char *scratch = NULL;
    CK_SESSION_HANDLE s;
    size_t i = claim(job);
    CK_RV rv;

    if (i >= job->count)
        return NULL;
    if (job->flags & SITOKEN_ECDSA_DER) {
        scratch = malloc(job->stride);
        if (!scratch) {
            record_failure(job, i, CKR_HOST_MEMORY, "malloc");
            return NULL;
        }
    }
    /* One session per worker: PKCS#11 allows one active operation per session. */
    rv = fl->C_OpenSession(job->slot, CKF_SERIAL_SESSION, NULL, NULL, &s);
    if (rv != CKR_OK) {
        record_failure(job, i, rv, "C_OpenSession");
        free(scratch);
        return NULL;
    }
    for (; i < job->count; i = claim(job)) {
        const char *function = "C_Sign";

        rv = sign_one(job, s, &mech, i, scratch, &function);
        if (rv != CKR_OK) {
            record_failure(job, i, rv, function);
            break;
        }
    }
    /* Closing also ends an operation a failed C_Sign may have left active. */
    fl->C_CloseSession(s);
    free(scratch);
    return NULL;
}

static void run_workers(struct batch_job *job, size_t nthreads)
{
    pthread_t *tids = NULL;
    size_t started = 0, t;

    if (nthreads > 1) {
        tids = calloc(nthreads - 1, sizeof *tids);
        /* Threads that cannot be created are simply not used: the claim loop lets the
         * workers that exist (at least the calling thread) finish the batch. */
        while (tids && started < nthreads - 1 &&
               pthread_create(&tids[started], NULL, batch_worker, job) == 0)
            started++;
    }
    batch_worker(job);
    for (t = 0; t < started; t++)
        pthread_join(tids[t], NULL);
    free(tids);
}

CK_RV sitoken_sign_batch(const sitoken_module *mod, CK_SLOT_ID slot, CK_OBJECT_HANDLE key,
                         CK_MECHANISM_TYPE mechanism, void *param, CK_ULONG param_len,
                         const unsigned char *data, const size_t *offsets, size_t count,
                         unsigned char *out, size_t stride, size_t *out_lens,
                         unsigned int threads, unsigned int flags, sitoken_batch_error *err)
{
    struct batch_job job;

    if (!err)
        return CKR_ARGUMENTS_BAD;
    set_error(err, CKR_OK, 0, NULL);
    if (!mod || !offsets || !out_lens || !out || !data || !threads || !stride ||
        count > SIZE_MAX / stride) {
        set_error(err, CKR_ARGUMENTS_BAD, 0, "sitoken_sign_batch");
        return err->rv;
    }
    if (count == 0)
        return CKR_OK;
    memset(&job, 0, sizeof job);
    job.mod = mod;
    job.slot = slot;
    job.key = key;
    job.mechanism.mechanism = mechanism;
    job.mechanism.pParameter = param;
    job.mechanism.ulParameterLen = param_len;
    job.data = data;
    job.offsets = offsets;
    job.count = count;
    job.out = out;
    job.stride = stride;
    job.out_lens = out_lens;
    job.flags = flags;
    atomic_init(&job.next, 0);
    atomic_init(&job.stop, 0);
    pthread_mutex_init(&job.err_lock, NULL);
    run_workers(&job, threads < count ? threads : count);
    pthread_mutex_destroy(&job.err_lock);
    *err = job.err;
    /* Inputs below the failure are all signed; anything from it on may have gaps and must
     * not pass for a result. */
    if (err->rv != CKR_OK)
        memset(out_lens + err->index, 0, (count - err->index) * sizeof *out_lens);
    return err->rv;
}

/* The benchmark's ceiling: the bare C_SignInit + C_Sign loop on one session, nothing else. */
CK_RV sitoken_bench_reference(const sitoken_module *mod, CK_SLOT_ID slot, CK_OBJECT_HANDLE key,
                              CK_MECHANISM_TYPE mechanism, void *param, CK_ULONG param_len,
                              const unsigned char *data, size_t data_len, size_t count,
                              unsigned char *out, size_t out_size, size_t *out_len,
                              sitoken_batch_error *err)
{
    CK_MECHANISM mech;
    CK_SESSION_HANDLE s;
    CK_RV rv;
    size_t i;

    if (!err)
        return CKR_ARGUMENTS_BAD;
    set_error(err, CKR_OK, 0, NULL);
    if (!mod || !data || !out || !out_len) {
        set_error(err, CKR_ARGUMENTS_BAD, 0, "sitoken_bench_reference");
        return err->rv;
    }
    mech.mechanism = mechanism;
    mech.pParameter = param;
    mech.ulParameterLen = param_len;
    rv = mod->fl->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s);
    if (rv != CKR_OK) {
        set_error(err, rv, 0, "C_OpenSession");
        return rv;
    }
    for (i = 0; i < count; i++) {
        CK_ULONG len = (CK_ULONG)out_size;

        rv = mod->fl->C_SignInit(s, &mech, key);
        if (rv != CKR_OK) {
            set_error(err, rv, i, "C_SignInit");
            break;
        }
        rv = mod->fl->C_Sign(s, (CK_BYTE *)data, (CK_ULONG)data_len, out, &len);
        if (rv != CKR_OK) {
            set_error(err, rv, i, "C_Sign");
            break;
        }
        *out_len = len;
    }
    mod->fl->C_CloseSession(s);
    return rv;
}
