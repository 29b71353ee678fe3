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
    rv = state_parse(&tx->st, text) ? SAR_FILEERR : SAR_OK;
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
    if (state_serialise(&tx->st, &text, &len) != 0)
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
