/* softskf-util: creates, lists, plugs and unplugs devices of a softskf store (the QA front end).
 *
 * Secrets never come from argv: PINs and device keys are read from environment variables whose
 * names are given with --admin-pin-env, --user-pin-env and --auth-key-env.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const unsigned char FACTORY_AUTH_KEY[16] = "1234567812345678";

static void usage(void)
{
    fputs("usage: softskf-util [--dir DIR] COMMAND ...\n"
          "  create-device NAME [--label L] [--serial S] [--auth-key-env VAR]\n"
          "  create-app DEVICE APP --admin-pin-env VAR --user-pin-env VAR\n"
          "             [--admin-retries N] [--user-retries N] [--rights HEX] [--auth-key-env VAR]\n"
          "  delete-device NAME | plug NAME | unplug NAME | list\n"
          "The store is --dir, else $SOFTSKF_DIR, else 'dir' in $SOFTSKF_CONF, else\n"
          "~/.local/share/softskf. The device key defaults to the ASCII bytes 1234567812345678.\n",
          stderr);
}

static const char *opt(int argc, char **argv, const char *name, const char *dflt)
{
    for (int i = 0; i + 1 < argc; i++)
        if (!strcmp(argv[i], name))
            return argv[i + 1];
    return dflt;
}

static const char *secret(int argc, char **argv, const char *name)
{
    const char *var = opt(argc, argv, name, NULL);
    const char *v = var ? getenv(var) : NULL;
    if (var && !v)
        fprintf(stderr, "softskf-util: %s names %s, which is not set\n", name, var);
    return v;
}

static int auth_key(int argc, char **argv, unsigned char key[16])
{
    const char *var = opt(argc, argv, "--auth-key-env", NULL);
    sk_buf b = {0};
    if (!var) {
        memcpy(key, FACTORY_AUTH_KEY, 16);
        return 0;
    }
    if (!getenv(var) || hex_decode(&b, getenv(var)) != 0 || b.n != 16) {
        fprintf(stderr, "softskf-util: %s must hold 32 hex digits (a 16-byte SM4 key)\n", var);
        buf_free(&b);
        return -1;
    }
    memcpy(key, b.p, 16);
    buf_free(&b);
    return 0;
}

static int fail(const char *what, ULONG rv)
{
    fprintf(stderr, "softskf-util: %s failed: 0x%08X\n", what, rv);
    return 1;
}

static int create_device(const char *root, int argc, char **argv)
{
    unsigned char key[16];
    if (argc < 2 || auth_key(argc, argv, key))
        return 2;
    ULONG rv = store_create_device(root, argv[1], opt(argc, argv, "--label", argv[1]),
                                   opt(argc, argv, "--serial", argv[1]), key);
    wipe(key, sizeof key);
    return rv == SAR_OK ? 0 : fail("create-device", rv);
}

/* Runs the real SKF path: connect, device authentication, CreateApplication. */
static int create_app(int argc, char **argv)
{
    const char *admin = secret(argc, argv, "--admin-pin-env");
    const char *user = secret(argc, argv, "--user-pin-env");
    unsigned char key[16], challenge[8], block[16] = {0}, answer[16];
    DEVHANDLE dev = NULL;
    HAPPLICATION app = NULL;
    ULONG rv;
    if (argc < 3 || !admin || !user || auth_key(argc, argv, key))
        return 2;
    unsigned long admin_tries = strtoul(opt(argc, argv, "--admin-retries", "10"), NULL, 10);
    unsigned long user_tries = strtoul(opt(argc, argv, "--user-retries", "6"), NULL, 10);
    unsigned long rights = strtoul(opt(argc, argv, "--rights", "ff"), NULL, 16);
    if ((rv = SKF_ConnectDev(argv[1], &dev)) != SAR_OK)
        return fail("ConnectDev", rv);
    if ((rv = SKF_GenRandom(dev, challenge, sizeof challenge)) == SAR_OK) {
        memcpy(block, challenge, sizeof challenge);
        if ((rv = sm4_ecb(1, key, block, 16, answer)) == SAR_OK)
            rv = SKF_DevAuth(dev, answer, 16);
    }
    wipe(key, sizeof key);
    if (rv != SAR_OK) {
        SKF_DisConnectDev(dev);
        return fail("DevAuth", rv);
    }
    rv = SKF_CreateApplication(dev, argv[2], (LPSTR)admin, (DWORD)admin_tries, (LPSTR)user, (DWORD)user_tries,
                               (DWORD)rights, &app);
    SKF_DisConnectDev(dev);
    return rv == SAR_OK ? 0 : fail("CreateApplication", rv);
}

static int set_present(const char *root, const char *dev, uint32_t present)
{
    sk_tx tx;
    ULONG rv = tx_begin(&tx, root, dev, 1);
    if (rv == SAR_OK) {
        tx.st.present = present;
        rv = tx_commit(&tx);
    }
    tx_end(&tx);
    return rv == SAR_OK ? 0 : fail(present ? "plug" : "unplug", rv);
}

static void show_app(const sk_app *a)
{
    printf("  app %s: admin PIN %u/%u tries, user PIN %u/%u tries, create rights 0x%02X\n", a->name,
           a->pin[ADMIN_TYPE].remain, a->pin[ADMIN_TYPE].max, a->pin[USER_TYPE].remain, a->pin[USER_TYPE].max,
           a->create_rights);
    for (size_t i = 0; i < a->nconts; i++) {
        const sk_cont *c = &a->conts[i];
        printf("    container %s: type %u, sign key %s, enc key %s, sign cert %zu B, enc cert %zu B\n", c->name,
               c->type, c->sign_key.n ? "yes" : "no", c->enc_key.n ? "yes" : "no", c->sign_cert.n, c->enc_cert.n);
    }
    for (size_t i = 0; i < a->nfiles; i++)
        printf("    file %s: %u B, read 0x%02X, write 0x%02X\n", a->files[i].name, a->files[i].size,
               a->files[i].read_rights, a->files[i].write_rights);
}

static int list(const char *root)
{
    char *names = NULL;
    size_t n = 0;
    ULONG rv = store_list_devices(root, 0, &names, &n);
    if (rv != SAR_OK)
        return fail("list", rv);
    for (size_t i = 0; i < n && names[i]; i += strlen(names + i) + 1) {
        sk_tx tx;
        if (tx_begin(&tx, root, names + i, 0) == SAR_OK) {
            printf("%s: %s, label '%s', serial '%s'\n", names + i, tx.st.present ? "present" : "unplugged",
                   tx.st.label, tx.st.serial);
            for (size_t j = 0; j < tx.st.napps; j++)
                show_app(&tx.st.apps[j]);
        }
        tx_end(&tx);
    }
    free(names);
    return 0;
}

int main(int argc, char **argv)
{
    char root[4096];
    if (argc >= 3 && !strcmp(argv[1], "--dir")) {
        setenv("SOFTSKF_DIR", argv[2], 1);
        argc -= 2;
        argv += 2;
    }
    if (argc < 2 || store_root(root, sizeof root) != SAR_OK) {
        usage();
        return 2;
    }
    const char *cmd = argv[1];
    argc--;
    argv++;
    if (!strcmp(cmd, "create-device"))
        return create_device(root, argc, argv);
    if (!strcmp(cmd, "create-app"))
        return create_app(argc, argv);
    if (!strcmp(cmd, "delete-device") && argc >= 2) {
        ULONG rv = store_delete_device(root, argv[1]);
        return rv == SAR_OK ? 0 : fail("delete-device", rv);
    }
    if (!strcmp(cmd, "plug") && argc >= 2)
        return set_present(root, argv[1], 1);
    if (!strcmp(cmd, "unplug") && argc >= 2)
        return set_present(root, argv[1], 0);
    if (!strcmp(cmd, "list"))
        return list(root);
    usage();
    return 2;
}
