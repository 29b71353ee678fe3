/* The device state: the in-memory model and its file format (text, one line per object).
 *
 *   softskf-state 1
 *   device LABEL SERIAL PRESENT AUTH_ALG AUTH_KEY
 *   app NAME CREATE_RIGHTS
 *   pin TYPE MAX REMAIN DEFAULT SALT SM3(SALT || PIN)
 *   file NAME SIZE READ_RIGHTS WRITE_RIGHTS DATA
 *   container NAME TYPE SIGN_KEY ENC_KEY SIGN_CERT ENC_CERT
 *   end
 *
 * Names and bytes are hex ("-" when empty); pin, file and container lines belong to the app
 * line above them. A file without its "end" line is truncated and refused.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define STATE_MAGIC "softskf-state 1"

void buf_free(sk_buf *b)
{
    if (b->p) {
        wipe(b->p, b->n);
        free(b->p);
    }
    b->p = NULL;
    b->n = 0;
}

int buf_set(sk_buf *b, const void *p, size_t n)
{
    unsigned char *q = NULL;
    if (n) {
        q = malloc(n);
        if (!q)
            return -1;
        memcpy(q, p, n);
    }
    buf_free(b);
    b->p = q;
    b->n = n;
    return 0;
}

/* Replaces `to` with `from`, which is left empty. */
void buf_move(sk_buf *to, sk_buf *from)
{
    buf_free(to);
    *to = *from;
    from->p = NULL;
    from->n = 0;
}

/* Removes `item` (already freed) from an array of `*count` records of `stride` bytes. */
void array_remove(void *items, size_t *count, size_t stride, void *item)
{
    size_t i = (size_t)((char *)item - (char *)items) / stride;
    memmove(item, (char *)item + stride, (*count - i - 1) * stride);
    (*count)--;
}

void cont_free(sk_cont *c)
{
    buf_free(&c->sign_key);
    buf_free(&c->enc_key);
    buf_free(&c->sign_cert);
    buf_free(&c->enc_cert);
}

void app_free(sk_app *a)
{
    for (size_t i = 0; i < a->nfiles; i++)
        buf_free(&a->files[i].data);
    for (size_t i = 0; i < a->nconts; i++)
        cont_free(&a->conts[i]);
    free(a->files);
    free(a->conts);
    wipe(a->pin, sizeof a->pin);
    a->files = NULL;
    a->conts = NULL;
    a->nfiles = a->nconts = 0;
}

void dev_free(sk_dev *d)
{
    for (size_t i = 0; i < d->napps; i++)
        app_free(&d->apps[i]);
    free(d->apps);
    wipe(d, sizeof *d);
}

sk_app *dev_find_app(sk_dev *d, const char *name)
{
    for (size_t i = 0; i < d->napps; i++)
        if (strcmp(d->apps[i].name, name) == 0)
            return &d->apps[i];
    return NULL;
}

sk_cont *app_find_cont(sk_app *a, const char *name)
{
    for (size_t i = 0; i < a->nconts; i++)
        if (strcmp(a->conts[i].name, name) == 0)
            return &a->conts[i];
    return NULL;
}

sk_file *app_find_file(sk_app *a, const char *name)
{
    for (size_t i = 0; i < a->nfiles; i++)
        if (strcmp(a->files[i].name, name) == 0)
            return &a->files[i];
    return NULL;
}

uint32_t dev_used_space(const sk_dev *d)
{
    size_t used = 0;
    for (size_t i = 0; i < d->napps; i++) {
        const sk_app *a = &d->apps[i];
        for (size_t j = 0; j < a->nfiles; j++)
            used += a->files[j].size;
        for (size_t j = 0; j < a->nconts; j++) {
            const sk_cont *c = &a->conts[j];
            used += c->sign_cert.n + c->enc_cert.n;
            used += (c->sign_key.n ? SK_KEY_COST : 0) + (c->enc_key.n ? SK_KEY_COST : 0);
        }
    }
    return used > SK_TOTAL_SPACE ? SK_TOTAL_SPACE : (uint32_t)used;
}

/* ---- serialisation: one line per object, names and bytes in hex ---- */

static int put_hex(FILE *f, const unsigned char *p, size_t n)
{
    if (!n)
        return fputs(" -", f) < 0 ? -1 : 0;
    char *h = malloc(2 * n + 1);
    if (!h)
        return -1;
    hex_encode(h, p, n);
    int rc = fprintf(f, " %s", h) < 0 ? -1 : 0;
    free(h);
    return rc;
}

static int put_str(FILE *f, const char *s)
{
    return put_hex(f, (const unsigned char *)s, strlen(s));
}

static int write_app(FILE *f, const sk_app *a)
{
    int rc = fputs("app", f) < 0;
    rc |= put_str(f, a->name);
    rc |= fprintf(f, " %u\n", a->create_rights) < 0;
    for (int t = 0; t < 2; t++) {
        const sk_pin *p = &a->pin[t];
        rc |= fprintf(f, "pin %d %u %u %u", t, p->max, p->remain, p->is_default) < 0;
        rc |= put_hex(f, p->salt, sizeof p->salt);
        rc |= put_hex(f, p->hash, sizeof p->hash);
        rc |= fputc('\n', f) == EOF;
    }
    for (size_t i = 0; i < a->nfiles; i++) {
        const sk_file *fl = &a->files[i];
        rc |= fputs("file", f) < 0;
        rc |= put_str(f, fl->name);
        rc |= fprintf(f, " %u %u %u", fl->size, fl->read_rights, fl->write_rights) < 0;
        rc |= put_hex(f, fl->data.p, fl->data.n);
        rc |= fputc('\n', f) == EOF;
    }
    for (size_t i = 0; i < a->nconts; i++) {
        const sk_cont *c = &a->conts[i];
        rc |= fputs("container", f) < 0;
        rc |= put_str(f, c->name);
        rc |= fprintf(f, " %u", c->type) < 0;
        rc |= put_hex(f, c->sign_key.p, c->sign_key.n);
        rc |= put_hex(f, c->enc_key.p, c->enc_key.n);
        rc |= put_hex(f, c->sign_cert.p, c->sign_cert.n);
        rc |= put_hex(f, c->enc_cert.p, c->enc_cert.n);
        rc |= fputc('\n', f) == EOF;
    }
    return rc ? -1 : 0;
}

int state_serialise(const sk_dev *d, char **out, size_t *len)
{
    FILE *f = open_memstream(out, len);
    int rc;
    if (!f)
        return -1;
    rc = fprintf(f, "%s\ndevice", STATE_MAGIC) < 0;
    rc |= put_str(f, d->label);
    rc |= put_str(f, d->serial);
    rc |= fprintf(f, " %u %u", d->present, d->auth_alg) < 0;
    rc |= put_hex(f, d->auth_key, sizeof d->auth_key);
    rc |= fputc('\n', f) == EOF;
    for (size_t i = 0; i < d->napps && !rc; i++)
        rc |= write_app(f, &d->apps[i]);
    rc |= fputs("end\n", f) < 0;
    rc |= fclose(f) != 0;
    if (rc) {
        free(*out);
        *out = NULL;
    }
    return rc ? -1 : 0;
}

/* ---- parsing ---- */

#define MAX_FIELDS 8

static int split(char *line, char **field, int max)
{
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(line, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        if (n == max)
            return -1;
        field[n++] = t;
    }
    return n;
}

static int parse_u32(const char *s, uint32_t *v)
{
    char *end;
    unsigned long x;
    errno = 0;
    x = strtoul(s, &end, 10);
    if (errno || *end || end == s || x > 0xFFFFFFFFul)
        return -1;
    *v = (uint32_t)x;
    return 0;
}

static int parse_name(const char *hex, char *out, size_t max)
{
    sk_buf b = {0};
    int rc = -1;
    if (hex_decode(&b, hex) == 0 && b.n <= max && !memchr(b.p, 0, b.n)) {
        if (b.n)
            memcpy(out, b.p, b.n);
        out[b.n] = 0;
        rc = 0;
    }
    buf_free(&b);
    return rc;
}

static int parse_fixed(const char *hex, unsigned char *out, size_t n)
{
    sk_buf b = {0};
    int rc = hex_decode(&b, hex) == 0 && b.n == n ? 0 : -1;
    if (!rc)
        memcpy(out, b.p, n);
    buf_free(&b);
    return rc;
}

static void *grow(void *arr, size_t n, size_t size)
{
    void *p = realloc(arr, (n + 1) * size);
    if (p)
        memset((char *)p + n * size, 0, size);
    return p;
}

static int parse_device(sk_dev *d, char **f, int n)
{
    if (n != 6 || parse_name(f[1], d->label, SK_MAX_LABEL) || parse_name(f[2], d->serial, 32))
        return -1;
    if (parse_u32(f[3], &d->present) || parse_u32(f[4], &d->auth_alg))
        return -1;
    return parse_fixed(f[5], d->auth_key, sizeof d->auth_key);
}

static int parse_app(sk_dev *d, char **f, int n)
{
    sk_app *apps;
    if (n != 3 || !(apps = grow(d->apps, d->napps, sizeof *apps)))
        return -1;
    d->apps = apps;
    sk_app *a = &apps[d->napps++];
    return parse_name(f[1], a->name, SK_MAX_APP_NAME) || parse_u32(f[2], &a->create_rights) ? -1 : 0;
}

static int parse_pin(sk_app *a, char **f, int n)
{
    uint32_t t;
    if (n != 7 || parse_u32(f[1], &t) || t > 1)
        return -1;
    sk_pin *p = &a->pin[t];
    if (parse_u32(f[2], &p->max) || parse_u32(f[3], &p->remain) || parse_u32(f[4], &p->is_default))
        return -1;
    return parse_fixed(f[5], p->salt, sizeof p->salt) || parse_fixed(f[6], p->hash, sizeof p->hash)
               ? -1
               : 0;
}

static int parse_file(sk_app *a, char **f, int n)
{
    sk_file *files;
    if (n != 6 || !(files = grow(a->files, a->nfiles, sizeof *files)))
        return -1;
    a->files = files;
    sk_file *fl = &files[a->nfiles++];
    if (parse_name(f[1], fl->name, SK_MAX_FILE_NAME) || parse_u32(f[2], &fl->size) ||
        parse_u32(f[3], &fl->read_rights) || parse_u32(f[4], &fl->write_rights))
        return -1;
    return hex_decode(&fl->data, f[5]) || fl->data.n != fl->size ? -1 : 0;
}

static int parse_cont(sk_app *a, char **f, int n)
{
    sk_cont *conts;
    if (n != 7 || !(conts = grow(a->conts, a->nconts, sizeof *conts)))
        return -1;
    a->conts = conts;
    sk_cont *c = &conts[a->nconts++];
    if (parse_name(f[1], c->name, SK_MAX_CONT_NAME) || parse_u32(f[2], &c->type) || c->type > 2)
        return -1;
    return hex_decode(&c->sign_key, f[3]) || hex_decode(&c->enc_key, f[4]) ||
                   hex_decode(&c->sign_cert, f[5]) || hex_decode(&c->enc_cert, f[6])
               ? -1
               : 0;
}

static int parse_line(sk_dev *d, char *line, int *ended)
{
    char *f[MAX_FIELDS];
    int n = split(line, f, MAX_FIELDS);
    sk_app *a = d->napps ? &d->apps[d->napps - 1] : NULL;
    if (n <= 0)
        return -1;
    if (!strcmp(f[0], "device"))
        return parse_device(d, f, n);
    if (!strcmp(f[0], "app"))
        return parse_app(d, f, n);
    if (!strcmp(f[0], "end")) {
        *ended = 1;
        return 0;
    }
    if (!a)
        return -1;
    if (!strcmp(f[0], "pin"))
        return parse_pin(a, f, n);
    if (!strcmp(f[0], "file"))
        return parse_file(a, f, n);
    if (!strcmp(f[0], "container"))
        return parse_cont(a, f, n);
    return -1;
}

/* Parses a whole state file (modified in place); -1 on anything malformed or truncated. */
int state_parse(sk_dev *d, char *text)
{
    char *save = NULL;
    char *line = strtok_r(text, "\n", &save);
    int ended = 0;
    if (!line || strcmp(line, STATE_MAGIC) != 0)
        return -1;
    while ((line = strtok_r(NULL, "\n", &save)) && !ended)
        if (parse_line(d, line, &ended))
            return -1;
    return ended ? 0 : -1; /* a file without its "end" line is truncated */
}

