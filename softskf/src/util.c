/* Helpers shared by every entry point: handles, quirks, the size-query and name-list conventions. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* ---- handles ---- */

static pthread_mutex_t handles_mu = PTHREAD_MUTEX_INITIALIZER;
static void **handles;
static size_t nhandles, caphandles;

void *handle_new(int kind, size_t size, void *parent)
{
    sk_hdr *h = calloc(1, size);
    if (!h)
        return NULL;
    h->kind = kind;
    h->parent = parent;
    pthread_mutex_lock(&handles_mu);
    if (nhandles == caphandles) {
        size_t cap = caphandles ? 2 * caphandles : 64;
        void **p = realloc(handles, cap * sizeof *p);
        if (!p) {
            pthread_mutex_unlock(&handles_mu);
            free(h);
            return NULL;
        }
        handles = p;
        caphandles = cap;
    }
    handles[nhandles++] = h;
    pthread_mutex_unlock(&handles_mu);
    return h;
}

static ssize_t find_locked(void *h)
{
    for (size_t i = 0; i < nhandles; i++)
        if (handles[i] == h)
            return (ssize_t)i;
    return -1;
}

void *handle_get(void *h, int kind)
{
    void *found = NULL;
    if (!h)
        return NULL;
    pthread_mutex_lock(&handles_mu);
    if (find_locked(h) >= 0 && ((sk_hdr *)h)->kind == kind)
        found = h;
    pthread_mutex_unlock(&handles_mu);
    return found;
}

/* Takes h and, recursively, every handle opened under it out of the table into `out`. */
static void detach_locked(void *h, void ***out, size_t *nout)
{
    ssize_t i = find_locked(h);
    if (i < 0)
        return;
    handles[i] = handles[--nhandles];
    void **p = realloc(*out, (*nout + 1) * sizeof *p);
    if (!p)
        return; /* leaks one handle rather than freeing it twice */
    *out = p;
    (*out)[(*nout)++] = h;
    for (size_t j = 0; j < nhandles;) {
        if (((sk_hdr *)handles[j])->parent == h) {
            detach_locked(handles[j], out, nout);
            j = 0;
        } else {
            j++;
        }
    }
}

void handle_free(void *h)
{
    void **gone = NULL;
    size_t n = 0;
    pthread_mutex_lock(&handles_mu);
    detach_locked(h, &gone, &n);
    pthread_mutex_unlock(&handles_mu);
    for (size_t i = n; i-- > 0;) {
        sk_hdr *x = gone[i];
        if (x->destroy)
            x->destroy(x);
        free(x);
    }
    free(gone);
}

/* ---- quirks ---- */

unsigned quirks(void)
{
    char conf[512];
    const char *q = getenv("SOFTSKF_QUIRKS");
    unsigned bits = 0;
    if (!q && conf_get("quirks", conf, sizeof conf))
        q = conf;
    if (!q)
        return 0;
    if (strstr(q, "sm2-old-ids"))
        bits |= Q_SM2_OLD_IDS;
    if (strstr(q, "empty-list-1"))
        bits |= Q_EMPTY_LIST_1;
    return bits;
}

uint32_t alg_sm2_1(void)
{
    return quirks() & Q_SM2_OLD_IDS ? SGD_SM2_1_OLD : SGD_SM2_1;
}

uint32_t alg_sm2_3(void)
{
    return quirks() & Q_SM2_OLD_IDS ? SGD_SM2_3_OLD : SGD_SM2_3;
}

/* ---- names, sizes and lists ---- */

/* A name must be NUL-terminated within max bytes and not empty; reads at most max + 1 bytes. */
ULONG name_ok(const char *s, size_t max, size_t *len)
{
    size_t n;
    if (!s)
        return SAR_INVALIDPARAMERR;
    n = strnlen(s, max + 1);
    if (n == 0 || n > max)
        return SAR_NAMELENERR;
    if (len)
        *len = n;
    return SAR_OK;
}

/* The size-query convention: NULL buffer -> needed length; too small -> SAR_BUFFER_TOO_SMALL. */
ULONG out_bytes(BYTE *buf, ULONG *len, const void *data, size_t n)
{
    if (!len)
        return SAR_INVALIDPARAMERR;
    if (!buf) {
        *len = (ULONG)n;
        return SAR_OK;
    }
    if (*len < n) {
        *len = (ULONG)n;
        return SAR_BUFFER_TOO_SMALL;
    }
    memcpy(buf, data, n);
    *len = (ULONG)n;
    return SAR_OK;
}

ULONG out_list(char *buf, ULONG *len, const char *list, size_t n)
{
    return out_bytes((BYTE *)buf, len, list, n);
}

int list_add(char **list, size_t *n, const char *name)
{
    size_t k = strlen(name) + 1;
    char *p = realloc(*list, *n + k + 2);
    if (!p)
        return -1;
    memcpy(p + *n, name, k);
    *list = p;
    *n += k;
    return 0;
}

/* Ends the list with its extra NUL; an empty list is two NULs (or one, by quirk). */
ULONG list_finish(char **list, size_t *n)
{
    size_t extra = *n ? 1 : (quirks() & Q_EMPTY_LIST_1 ? 1 : 2);
    char *p = realloc(*list, *n + extra);
    if (!p)
        return SAR_MEMORYERR;
    memset(p + *n, 0, extra);
    *list = p;
    *n += extra;
    return SAR_OK;
}

/* The name list of an array of records whose first member is their NUL-terminated name. */
ULONG out_names(const void *items, size_t count, size_t stride, char *buf, ULONG *len)
{
    char *list = NULL;
    size_t n = 0;
    ULONG rv = SAR_OK;
    for (size_t i = 0; i < count && rv == SAR_OK; i++)
        if (list_add(&list, &n, (const char *)items + i * stride))
            rv = SAR_MEMORYERR;
    if (rv == SAR_OK && (rv = list_finish(&list, &n)) == SAR_OK)
        rv = out_list(buf, len, list, n);
    free(list);
    return rv;
}

void hex_encode(char *out, const unsigned char *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = 0;
}

static int nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* "-" is the empty value; anything else must be an even number of hex digits. */
int hex_decode(sk_buf *out, const char *hex)
{
    size_t n = strlen(hex);
    buf_free(out);
    if (!strcmp(hex, "-"))
        return 0;
    if (n == 0 || n % 2)
        return -1;
    out->p = malloc(n / 2);
    if (!out->p)
        return -1;
    out->n = n / 2;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            buf_free(out);
            return -1;
        }
        out->p[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

void wipe(void *p, size_t n)
{
    if (p && n)
        explicit_bzero(p, n);
}
