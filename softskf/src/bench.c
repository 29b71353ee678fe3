/* softskf-bench: SKF_ECCSignData through the whole token beside libcrypto's bare SM2 signature, in one run.
 *
 * Usage: softskf-bench [N]. Makes a throw-away store in /tmp, a device, an application and a
 * key, then prints signatures per second for both and their ratio (the token's overhead), and
 * removes the store.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "internal.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int die(const char *what, ULONG rv)
{
    fprintf(stderr, "softskf-bench: %s: 0x%08X\n", what, rv);
    return 1;
}

/* A device with application "bench", user logged in, container "c" with an SM2 key. */
static ULONG setup(const char *root, HCONTAINER *cont)
{
    static const unsigned char key[16] = "1234567812345678";
    unsigned char challenge[8], block[16] = {0}, answer[16];
    DEVHANDLE dev;
    HAPPLICATION app;
    ECCPUBLICKEYBLOB pub;
    ULONG rv, retry;
    if ((rv = store_create_device(root, "bench", "bench", "bench", key)) != SAR_OK ||
        (rv = SKF_ConnectDev("bench", &dev)) != SAR_OK || (rv = SKF_GenRandom(dev, challenge, 8)) != SAR_OK)
        return rv;
    memcpy(block, challenge, 8);
    if ((rv = sm4_ecb(1, key, block, 16, answer)) != SAR_OK || (rv = SKF_DevAuth(dev, answer, 16)) != SAR_OK)
        return rv;
    if ((rv = SKF_CreateApplication(dev, "bench", "admin8642", 5, "user13579", 5, 0xFF, &app)) != SAR_OK ||
        (rv = SKF_VerifyPIN(app, USER_TYPE, "user13579", &retry)) != SAR_OK ||
        (rv = SKF_CreateContainer(app, "c", cont)) != SAR_OK)
        return rv;
    return SKF_GenECCKeyPair(*cont, SGD_SM2_1, &pub);
}

/* Times `count` bare signatures with a fresh context each, as the token makes one per call. */
static double bare_time(EVP_PKEY *pkey, int count, const unsigned char e[32])
{
    unsigned char sig[80];
    double t = now();
    for (int i = 0; i < count; i++) {
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pkey, NULL);
        size_t len = sizeof sig;
        if (!ctx || EVP_PKEY_sign_init(ctx) <= 0 || EVP_PKEY_sign(ctx, sig, &len, e, 32) <= 0)
            return -1;
        EVP_PKEY_CTX_free(ctx);
    }
    return now() - t;
}

static double token_time(HCONTAINER cont, int count, const unsigned char e[32])
{
    ECCSIGNATUREBLOB sig;
    double t = now();
    for (int i = 0; i < count; i++)
        if (SKF_ECCSignData(cont, (BYTE *)e, 32, &sig) != SAR_OK)
            return -1;
    return now() - t;
}

int main(int argc, char **argv)
{
    char root[] = "/tmp/softskf-bench-XXXXXX";
    unsigned char e[32] = {1};
    HCONTAINER cont;
    ULONG rv;
    int n = argc > 1 ? atoi(argv[1]) : 1000;
    if (n < 10 || !mkdtemp(root))
        return 2;
    setenv("SOFTSKF_DIR", root, 1);
    if ((rv = setup(root, &cont)) != SAR_OK)
        return die("set-up", rv);
    EVP_PKEY_CTX *gen = EVP_PKEY_CTX_new_from_name(NULL, "SM2", NULL);
    EVP_PKEY *pkey = NULL;
    if (!gen || EVP_PKEY_keygen_init(gen) <= 0 || EVP_PKEY_keygen(gen, &pkey) <= 0)
        return die("keygen", 0);
    /* Ten interleaved rounds, so a busy machine slows both sides alike. */
    double token = 0, bare = 0;
    for (int round = 0; round < 10; round++) {
        double a = token_time(cont, n / 10, e), b = bare_time(pkey, n / 10, e);
        if (a < 0 || b < 0)
            return die("signing", 0);
        token += a;
        bare += b;
    }
    int done = n / 10 * 10;
    printf("SM2 signatures per second, %d each, interleaved in 10 rounds:\n", done);
    printf("  libcrypto EVP_PKEY_sign     %8.0f/s\n", done / bare);
    printf("  softskf SKF_ECCSignData     %8.0f/s  (%.2f of libcrypto's rate)\n", done / token, bare / token);
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(gen);
    char devices[sizeof root + 16];
    snprintf(devices, sizeof devices, "%s/devices", root);
    if (store_delete_device(root, "bench") != SAR_OK || rmdir(devices) != 0 || rmdir(root) != 0)
        fprintf(stderr, "softskf-bench: could not remove %s\n", root);
    return 0;
}
