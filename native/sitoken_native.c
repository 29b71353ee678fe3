/* sitoken._native: loading a PKCS#11 module and batch signing on the function list and the
 * sessions the Python driver owns. cffi releases the GIL around every call into this file, so
 * each function here is one Python -> C transition, however much work it does.
 *
 * Every length a module returns is checked against the buffer it was given before anything
 * is read from that buffer.
 */
#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dlfcn.h>
#include <pthread.h>

#include "cryptoki.h"
#include "sitoken_native.h"

#ifndef SITOKEN_VERSION
#error "SITOKEN_VERSION must come from the build (native/build_native.py)"
#endif

/* The specification's success code; every other CK_RV is passed up unchanged. */
#define RV_SUCCESS ((CK_RV)0)

const char *sitoken_native_version(void)
{
    return SITOKEN_VERSION;
}

static void report(char *errbuf, size_t errbuf_len, const char *what, const char *detail)
{
    if (errbuf && errbuf_len)
        snprintf(errbuf, errbuf_len, "%s: %s", what, detail ? detail : "unknown error");
}

/* ---- module ------------------------------------------------------------------------ */

/* dlopen + the one C_GetFunctionList of this process for the module. The library stays
 * loaded for the life of the process: handles and sessions outlive any Python object. */
int sitoken_module_load(const char *path, CK_FUNCTION_LIST **out, CK_RV *rv, char *errbuf,
                        size_t errbuf_len)
{
    CK_RV (*get_function_list)(CK_FUNCTION_LIST **);
    void *dl, *sym;

    if (!path || !out || !rv)
        return SITOKEN_E_ARGUMENTS;
    *out = NULL;
    *rv = RV_SUCCESS;
    /* RTLD_NOW makes a broken module fail here rather than in the middle of a batch. */
    dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        report(errbuf, errbuf_len, "dlopen", dlerror());
        return SITOKEN_E_LOAD;
    }
    sym = dlsym(dl, "C_GetFunctionList");
    if (!sym) {
        report(errbuf, errbuf_len, "dlsym C_GetFunctionList", dlerror());
        dlclose(dl);
        return SITOKEN_E_LOAD;
    }
    /* POSIX guarantees a dlsym result converts to a function pointer; memcpy says so
     * without a cast ISO C does not define. */
    memcpy(&get_function_list, &sym, sizeof get_function_list);
    *rv = get_function_list(out);
    if (*rv != RV_SUCCESS || !*out) {
        report(errbuf, errbuf_len, "C_GetFunctionList", "failed");
        *out = NULL;
        dlclose(dl);
        return *rv != RV_SUCCESS ? SITOKEN_E_MODULE : SITOKEN_E_LOAD;
    }
    return SITOKEN_OK;
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
    CK_FUNCTION_LIST *fl;
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

struct worker {
    struct batch_job *job;
    CK_SESSION_HANDLE session;
};

static void set_error(sitoken_batch_error *err, int status, CK_RV rv, size_t index,
                      const char *function, unsigned long length)
{
    err->status = status;
    err->rv = rv;
    err->index = index;
    err->function = function;
    err->length = length;
}

/* Keeps the lowest failing index. Inputs are claimed in increasing order, so every input
 * below it was claimed earlier and finished before the workers were joined. */
static void record_failure(struct batch_job *job, size_t index, const sitoken_batch_error *e)
{
    pthread_mutex_lock(&job->err_lock);
    if (job->err.status == SITOKEN_OK || index < job->err.index) {
        job->err = *e;
        job->err.index = index;
    }
    pthread_mutex_unlock(&job->err_lock);
    atomic_store(&job->stop, 1);
}

static size_t claim(struct batch_job *job)
{
    if (atomic_load_explicit(&job->stop, memory_order_relaxed))
        return job->count;
    return atomic_fetch_add_explicit(&job->next, 1, memory_order_relaxed);
}

/* C_SignInit + C_Sign into buf (size bytes); the length is checked before anyone reads it. */
static int sign_into(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE s, CK_MECHANISM *mech,
                     CK_OBJECT_HANDLE key, const unsigned char *data, size_t data_len,
                     unsigned char *buf, size_t size, size_t *len, sitoken_batch_error *e)
{
    CK_ULONG n = (CK_ULONG)size;
    CK_RV rv;

    rv = fl->C_SignInit(s, mech, key);
    if (rv != RV_SUCCESS) {
        set_error(e, SITOKEN_E_MODULE, rv, 0, "C_SignInit", 0);
        return e->status;
    }
    /* C_Sign's prototype predates const; it reads the data only. */
    rv = fl->C_Sign(s, (CK_BYTE *)data, (CK_ULONG)data_len, buf, &n);
    if (rv != RV_SUCCESS) {
        set_error(e, SITOKEN_E_MODULE, rv, 0, "C_Sign", 0);
        return e->status;
    }
    if (n > size) {
        /* The module claims to have written past the buffer it was given. */
        set_error(e, SITOKEN_E_LENGTH, rv, 0, "C_Sign", n);
        return e->status;
    }
    *len = (size_t)n;
    return SITOKEN_OK;
}

static int sign_one(struct batch_job *job, CK_SESSION_HANDLE s, CK_MECHANISM *mech, size_t i,
                    unsigned char *scratch, sitoken_batch_error *e)
{
    unsigned char *slot_out = job->out + i * job->stride;
    const unsigned char *data = job->data + job->offsets[i];
    size_t data_len = job->offsets[i + 1] - job->offsets[i];
    size_t len = 0;
    int status;

    status = sign_into(job->fl, s, mech, job->key, data, data_len,
                       scratch ? scratch : slot_out, job->stride, &len, e);
    if (status != SITOKEN_OK)
        return status;
    if (!scratch) {
        job->out_lens[i] = len;
        return SITOKEN_OK;
    }
    if (ecdsa_raw_to_der(scratch, len, slot_out, job->stride, &job->out_lens[i]) != 0) {
        set_error(e, SITOKEN_E_ENCODING, RV_SUCCESS, 0, "sitoken_ecdsa_to_der", len);
        return e->status;
    }
    return SITOKEN_OK;
}

static void *batch_worker(void *arg)
{
    struct worker *w = arg;
    struct batch_job *job = w->job;
    /* Each worker passes its own copy: C_SignInit takes a non-const pointer. */
    CK_MECHANISM mech = job->mechanism;
    unsigned char *scratch = NULL;
    sitoken_batch_error e;
    size_t i = claim(job);

    if (i >= job->count)
        return NULL;
    memset(&e, 0, sizeof e);
    if (job->flags & SITOKEN_ECDSA_DER) {
        scratch = malloc(job->stride);
        if (!scratch) {
            set_error(&e, SITOKEN_E_MEMORY, RV_SUCCESS, i, "malloc", 0);
            record_failure(job, i, &e);
            return NULL;
        }
    }
    /* Each worker has a session of its own: PKCS#11 allows one active operation per
     * session. The sessions belong to the caller, who closes them. */
    for (; i < job->count; i = claim(job)) {
        if (sign_one(job, w->session, &mech, i, scratch, &e) != SITOKEN_OK) {
            record_failure(job, i, &e);
            break;
        }
    }
    free(scratch);
    return NULL;
}

static void run_workers(struct batch_job *job, const CK_SESSION_HANDLE *sessions, size_t n)
{
    struct worker *workers = calloc(n, sizeof *workers);
    pthread_t *tids = NULL;
    struct worker solo;
    size_t started = 0, t;

    if (!workers) {
        n = 1;
        workers = &solo;
    }
    for (t = 0; t < n; t++) {
        workers[t].job = job;
        workers[t].session = sessions[t];
    }
    if (n > 1)
        tids = calloc(n - 1, sizeof *tids);
    /* Threads that cannot be created are simply not used: the claim loop lets the workers
     * that exist (at least the calling thread) finish the batch. */
    while (tids && started < n - 1 &&
           pthread_create(&tids[started], NULL, batch_worker, &workers[started + 1]) == 0)
        started++;
    batch_worker(&workers[0]);
    for (t = 0; t < started; t++)
        pthread_join(tids[t], NULL);
    free(tids);
    if (workers != &solo)
        free(workers);
}

int sitoken_sign_batch(CK_FUNCTION_LIST *fl, const CK_SESSION_HANDLE *sessions,
                       size_t nsessions, CK_OBJECT_HANDLE key, CK_MECHANISM_TYPE mechanism,
                       void *param, CK_ULONG param_len, const unsigned char *data,
                       const size_t *offsets, size_t count, unsigned char *out, size_t stride,
                       size_t *out_lens, unsigned int flags, sitoken_batch_error *err)
{
    struct batch_job job;

    if (!err)
        return SITOKEN_E_ARGUMENTS;
    set_error(err, SITOKEN_OK, RV_SUCCESS, 0, NULL, 0);
    if (!fl || !sessions || !nsessions || !offsets || !out_lens || !out || !data || !stride ||
        stride > (size_t)(CK_ULONG)-1 || count > SIZE_MAX / stride) {
        set_error(err, SITOKEN_E_ARGUMENTS, RV_SUCCESS, 0, "sitoken_sign_batch", 0);
        return err->status;
    }
    if (count == 0)
        return SITOKEN_OK;
    memset(&job, 0, sizeof job);
    job.fl = fl;
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
    run_workers(&job, sessions, nsessions < count ? nsessions : count);
    pthread_mutex_destroy(&job.err_lock);
    *err = job.err;
    /* Inputs below the failure are all signed; anything from it on may have gaps and must
     * not pass for a result. */
    if (err->status != SITOKEN_OK)
        memset(out_lens + err->index, 0, (count - err->index) * sizeof *out_lens);
    return err->status;
}

/* The benchmark's ceiling: the bare C_SignInit + C_Sign loop on one session, nothing else. */
int sitoken_bench_reference(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE session,
                            CK_OBJECT_HANDLE key, CK_MECHANISM_TYPE mechanism, void *param,
                            CK_ULONG param_len, const unsigned char *data, size_t data_len,
                            size_t count, unsigned char *out, size_t out_size, size_t *out_len,
                            sitoken_batch_error *err)
{
    CK_MECHANISM mech;
    size_t i;

    if (!err)
        return SITOKEN_E_ARGUMENTS;
    set_error(err, SITOKEN_OK, RV_SUCCESS, 0, NULL, 0);
    if (!fl || !data || !out || !out_len) {
        set_error(err, SITOKEN_E_ARGUMENTS, RV_SUCCESS, 0, "sitoken_bench_reference", 0);
        return err->status;
    }
    mech.mechanism = mechanism;
    mech.pParameter = param;
    mech.ulParameterLen = param_len;
    for (i = 0; i < count; i++) {
        if (sign_into(fl, session, &mech, key, data, data_len, out, out_size, out_len, err)) {
            err->index = i;
            break;
        }
    }
    return err->status;
}
