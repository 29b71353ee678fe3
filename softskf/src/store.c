/* The device store: one directory per device, its state in one file, read and rewritten under flock.
 *
 * Every SKF call opens a transaction: it takes the device's lock file (shared to read, exclusive
 * to write), loads the state file, and on commit writes a temporary file, fsyncs it and renames
 * it over the state file. A process killed at any point leaves either the old or the new state,
 * and the kernel drops its lock, so the next caller finds a usable store.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* ---- where the store lives ---- */

static int conf_value(const char *path, const char *key, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    char line[4608];
    int found = 0;
    if (!f)
        return 0;
    while (!found && fgets(line, sizeof line, f)) {
        char *p = line, *eq;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '#' || strncmp(p, key, strlen(key)) != 0)
            continue;
        eq = p + strlen(key);
        while (*eq == ' ' || *eq == '\t')
            eq++;
        if (*eq != '=')
            continue;
        eq++;
        while (*eq == ' ' || *eq == '\t')
            eq++;
        eq[strcspn(eq, "\r\n")] = 0;
        if (strlen(eq) < cap) {
            strcpy(out, eq);
            found = 1;
        }
    }
    fclose(f);
    return found;
}

/* Reads KEY from SOFTSKF_CONF (a "key = value" file); 0 when there is none. */
int conf_get(const char *key, char *out, size_t cap)
{
    const char *conf = getenv("SOFTSKF_CONF");
    return conf && *conf ? conf_value(conf, key, out, cap) : 0;
}

ULONG store_root(char *out, size_t cap)
{
    const char *env = getenv("SOFTSKF_DIR");
    const char *home;
    if (env && *env) {
        if (strlen(env) >= cap)
            return SAR_NAMELENERR;
        strcpy(out, env);
        return SAR_OK;
    }
    if (conf_get("dir", out, cap))
        return SAR_OK;
    home = getenv("HOME");
    if (!home || !*home)
        return SAR_FILEERR;
    if ((size_t)snprintf(out, cap, "%s/.local/share/softskf", home) >= cap)
        return SAR_NAMELENERR;
    return SAR_OK;
}

static int dev_dir(char *out, size_t cap, const char *root, const char *dev)
{
    return (size_t)snprintf(out, cap, "%s/devices/%s", root, dev) < cap ? 0 : -1;
}

static int mkdirs(const char *path)
{
    char tmp[4096];
    if (strlen(path) >= sizeof tmp)
        return -1;
    strcpy(tmp, path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(tmp, 0700) != 0 && errno != EEXIST ? -1 : 0;
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

static int serialise(const sk_dev *d, char **out, size_t *len)
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

static int parse_state(sk_dev *d, char *text)
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

static int read_all(const char *path, char **out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    char *buf;
    size_t got = 0;
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) != 0 || st.st_size > 64 * 1024 * 1024 || !(buf = malloc(st.st_size + 1))) {
        close(fd);
        return -1;
    }
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, st.st_size - got);
        if (r <= 0)
            break;
        got += r;
    }
    close(fd);
    buf[got] = 0;
    *out = buf;
    return 0;
}

/* ---- transactions ---- */

static ULONG open_lock(sk_tx *tx, int write)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/lock", tx->dir);
    tx->lock_fd = open(path, O_RDWR | O_CLOEXEC);
    if (tx->lock_fd < 0)
        return errno == ENOENT ? SAR_DEVICE_REMOVED : SAR_FILEERR;
    while (flock(tx->lock_fd, write ? LOCK_EX : LOCK_SH) != 0)
        if (errno != EINTR)
            return SAR_FILEERR;
    return SAR_OK;
}

ULONG tx_begin(sk_tx *tx, const char *root, const char *dev, int write)
{
    char path[4200];
    char *text = NULL;
    ULONG rv;
    memset(tx, 0, sizeof *tx);
    tx->lock_fd = tx->hold_fd = -1;
    if (dev_dir(tx->dir, sizeof tx->dir, root, dev))
        return SAR_NAMELENERR;
    if ((rv = open_lock(tx, write)) != SAR_OK)
        return rv;
    snprintf(path, sizeof path, "%s/state", tx->dir);
    if (read_all(path, &text) != 0)
        return errno == ENOENT ? SAR_DEVICE_REMOVED : SAR_READFILEERR;
    rv = parse_state(&tx->st, text) ? SAR_FILEERR : SAR_OK;
    wipe(text, strlen(text));
    free(text);
    return rv;
}

static int write_full(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= w;
    }
    return 0;
}

/* Test hook: SOFTSKF_TEST_PAUSE_WRITE=PATH makes a writer stop half-way through its temporary
 * file, create PATH and sleep, so a test can SIGKILL it at the worst moment. */
static void pause_for_test(void)
{
    const char *marker = getenv("SOFTSKF_TEST_PAUSE_WRITE");
    if (!marker || !*marker)
        return;
    int fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0)
        close(fd);
    sleep(60);
}

static int write_state_file(const char *dir, const char *text, size_t len)
{
    char tmp[4200], final[4200];
    int fd, rc;
    snprintf(tmp, sizeof tmp, "%s/state.tmp", dir);
    snprintf(final, sizeof final, "%s/state", dir);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    rc = write_full(fd, text, len / 2);
    if (!rc)
        pause_for_test();
    rc = rc || write_full(fd, text + len / 2, len - len / 2) || fsync(fd);
    rc = close(fd) || rc;
    if (rc || rename(tmp, final) != 0)
        return -1;
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    return 0;
}

ULONG tx_commit(sk_tx *tx)
{
    char *text = NULL;
    size_t len = 0;
    int rc;
    if (serialise(&tx->st, &text, &len) != 0)
        return SAR_MEMORYERR;
    rc = write_state_file(tx->dir, text, len);
    wipe(text, len);
    free(text);
    return rc ? SAR_WRITEFILEERR : SAR_OK;
}

void tx_end(sk_tx *tx)
{
    if (tx->lock_fd >= 0)
        close(tx->lock_fd); /* drops the flock */
    if (tx->hold_fd >= 0)
        close(tx->hold_fd);
    tx->lock_fd = tx->hold_fd = -1;
    dev_free(&tx->st);
}

/* The "hold" file carries SKF_LockDev: its holder has it exclusively, every other call takes it
 * shared for the length of one call, waiting up to timeout_ms (0xFFFFFFFF: for ever). */
ULONG hold_lock(const char *root, const char *dev, int exclusive, uint32_t timeout_ms, int *fd)
{
    char path[4200];
    uint64_t waited = 0;
    if ((size_t)snprintf(path, sizeof path, "%s/devices/%s/hold", root, dev) >= sizeof path)
        return SAR_NAMELENERR;
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (*fd < 0)
        return errno == ENOENT ? SAR_DEVICE_REMOVED : SAR_FILEERR;
    while (flock(*fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            close(*fd);
            *fd = -1;
            return SAR_FILEERR;
        }
        if (timeout_ms != 0xFFFFFFFFu && waited >= timeout_ms) {
            close(*fd);
            *fd = -1;
            return SAR_TIMEOUTERR;
        }
        usleep(10000);
        waited += 10;
    }
    return SAR_OK;
}

/* ---- devices ---- */

static int dev_name_ok(const char *name)
{
    size_t n = strnlen(name, SK_MAX_DEV_NAME + 1);
    if (n == 0 || n > SK_MAX_DEV_NAME || name[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return 0;
    }
    return 1;
}

ULONG store_create_device(const char *root, const char *dev, const char *label, const char *serial,
                          const unsigned char auth_key[16])
{
    char dir[4096], path[4200];
    sk_tx tx;
    ULONG rv;
    int fd;
    if (!dev_name_ok(dev) || strlen(label) > SK_MAX_LABEL || strlen(serial) > 32)
        return SAR_NAMELENERR;
    if (dev_dir(dir, sizeof dir, root, dev) || mkdirs(root) != 0)
        return SAR_FILEERR;
    snprintf(path, sizeof path, "%s/devices", root);
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return SAR_FILEERR;
    if (mkdir(dir, 0700) != 0)
        return errno == EEXIST ? SAR_FILE_ALREADY_EXIST : SAR_FILEERR;
    snprintf(path, sizeof path, "%s/lock", dir);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return SAR_FILEERR;
    close(fd);
    memset(&tx, 0, sizeof tx);
    tx.lock_fd = tx.hold_fd = -1;
    strcpy(tx.dir, dir);
    if ((rv = open_lock(&tx, 1)) != SAR_OK)
        return rv;
    strcpy(tx.st.label, label);
    strcpy(tx.st.serial, serial);
    tx.st.present = 1;
    tx.st.auth_alg = SGD_SM4_ECB;
    memcpy(tx.st.auth_key, auth_key, 16);
    rv = tx_commit(&tx);
    tx_end(&tx);
    return rv;
}

static int remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4608];
    if (!d)
        return errno == ENOENT ? 0 : -1;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    return rmdir(dir);
}

ULONG store_delete_device(const char *root, const char *dev)
{
    char dir[4096], gone[4200];
    if (!dev_name_ok(dev) || dev_dir(dir, sizeof dir, root, dev))
        return SAR_NAMELENERR;
    /* Rename first, so no caller ever sees half a device. */
    snprintf(gone, sizeof gone, "%s/devices/.deleted-%s-%ld", root, dev, (long)getpid());
    if (rename(dir, gone) != 0)
        return errno == ENOENT ? SAR_DEVICE_REMOVED : SAR_FILEERR;
    return remove_tree(gone) ? SAR_FILEERR : SAR_OK;
}

ULONG store_device_present(const char *root, const char *dev, int *present)
{
    sk_tx tx;
    ULONG rv;
    *present = 0;
    if (!dev_name_ok(dev))
        return SAR_OK;
    rv = tx_begin(&tx, root, dev, 0);
    if (rv == SAR_OK)
        *present = tx.st.present != 0;
    tx_end(&tx);
    return rv == SAR_DEVICE_REMOVED ? SAR_OK : rv;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

ULONG store_list_devices(const char *root, int present_only, char **list, size_t *len)
{
    char path[4200];
    char *names[256];
    size_t count = 0;
    ULONG rv = SAR_OK;
    struct dirent *e;
    DIR *d;
    *list = NULL;
    *len = 0;
    snprintf(path, sizeof path, "%s/devices", root);
    d = opendir(path);
    while (d && (e = readdir(d)) && count < 256) {
        int present = 0;
        if (!dev_name_ok(e->d_name))
            continue;
        if (store_device_present(root, e->d_name, &present) != SAR_OK)
            continue;
        char check[4608];
        snprintf(check, sizeof check, "%s/%s/state", path, e->d_name);
        if (access(check, F_OK) != 0 || (present_only && !present))
            continue;
        names[count] = strdup(e->d_name);
        if (!names[count]) {
            rv = SAR_MEMORYERR;
            break;
        }
        count++;
    }
    if (d)
        closedir(d);
    qsort(names, count, sizeof names[0], cmp_str);
    for (size_t i = 0; i < count; i++) {
        if (rv == SAR_OK && list_add(list, len, names[i]))
            rv = SAR_MEMORYERR;
        free(names[i]);
    }
    return rv == SAR_OK ? list_finish(list, len) : rv;
}
