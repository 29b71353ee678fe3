/* Spec 7.1 and the device half of 7.2: enumeration, connection, device info, locking, DevAuth. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static uint32_t lock_wait_ms(void)
{
    const char *v = getenv("SOFTSKF_LOCK_WAIT_MS");
    return v && *v ? (uint32_t)strtoul(v, NULL, 10) : 5000u;
}

ULONG dev_tx(sk_devh *d, sk_tx *tx, int write)
{
    int hold = -1;
    ULONG rv = SAR_OK;
    if (d->lock_fd < 0)
        rv = hold_lock(d->root, d->name, 0, lock_wait_ms(), &hold);
    if (rv != SAR_OK) {
        memset(tx, 0, sizeof *tx);
        tx->lock_fd = tx->hold_fd = -1;
        return rv;
    }
    rv = tx_begin(tx, d->root, d->name, write);
    tx->hold_fd = hold;
    if (rv == SAR_OK && !tx->st.present)
        rv = SAR_DEVICE_REMOVED;
    return rv;
}

ULONG SKF_EnumDev(BOOL bPresent, LPSTR szNameList, ULONG *pulSize)
{
    char root[4096];
    char *list = NULL;
    size_t n = 0;
    ULONG rv;
    if (!pulSize)
        return SAR_INVALIDPARAMERR;
    if ((rv = store_root(root, sizeof root)) != SAR_OK)
        return rv;
    rv = store_list_devices(root, bPresent != FALSE, &list, &n);
    if (rv == SAR_OK)
        rv = out_list(szNameList, pulSize, list, n);
    free(list);
    return rv;
}

ULONG SKF_ConnectDev(LPSTR szName, DEVHANDLE *phDev)
{
    char root[4096];
    int present = 0;
    ULONG rv;
    sk_devh *d;
    if (!phDev || (rv = name_ok(szName, SK_MAX_DEV_NAME, NULL)) != SAR_OK)
        return phDev ? rv : SAR_INVALIDPARAMERR;
    if ((rv = store_root(root, sizeof root)) != SAR_OK)
        return rv;
    if ((rv = store_device_present(root, szName, &present)) != SAR_OK)
        return rv;
    if (!present)
        return SAR_DEVICE_REMOVED;
    d = handle_new(K_DEV, sizeof *d, NULL);
    if (!d)
        return SAR_MEMORYERR;
    strcpy(d->root, root);
    strcpy(d->name, szName);
    d->lock_fd = -1;
    *phDev = d;
    return SAR_OK;
}

static void dev_destroy(void *self)
{
    sk_devh *d = self;
    if (d->lock_fd >= 0)
        close(d->lock_fd);
    wipe(d->challenge, sizeof d->challenge);
}

ULONG SKF_DisConnectDev(DEVHANDLE hDev)
{
    DEV(hDev, d);
    d->hdr.destroy = dev_destroy;
    handle_free(d); /* closes its applications, containers and keys too */
    return SAR_OK;
}

ULONG SKF_GetDevState(LPSTR szDevName, ULONG *pulDevState)
{
    char root[4096];
    int present = 0;
    ULONG rv;
    if (!pulDevState || (rv = name_ok(szDevName, SK_MAX_DEV_NAME, NULL)) != SAR_OK)
        return pulDevState ? rv : SAR_INVALIDPARAMERR;
    if ((rv = store_root(root, sizeof root)) != SAR_OK)
        return rv;
    if ((rv = store_device_present(root, szDevName, &present)) != SAR_OK)
        return rv;
    *pulDevState = present ? DEV_PRESENT_STATE : DEV_ABSENT_STATE;
    return SAR_OK;
}

ULONG SKF_SetLabel(DEVHANDLE hDev, LPSTR szLabel)
{
    sk_tx tx;
    ULONG rv;
    size_t n;
    DEV(hDev, d);
    if (!szLabel)
        return SAR_INVALIDPARAMERR;
    n = strnlen(szLabel, SK_MAX_LABEL + 1);
    if (n > SK_MAX_LABEL)
        return SAR_NAMELENERR;
    if ((rv = dev_tx(d, &tx, 1)) == SAR_OK) {
        memcpy(tx.st.label, szLabel, n);
        tx.st.label[n] = 0;
        rv = tx_commit(&tx);
    }
    tx_end(&tx);
    return rv;
}

static void copy_field(CHAR *field, size_t cap, const char *s)
{
    memset(field, 0, cap);
    memcpy(field, s, strnlen(s, cap));
}

ULONG SKF_GetDevInfo(DEVHANDLE hDev, DEVINFO *pDevInfo)
{
    sk_tx tx;
    ULONG rv;
    DEV(hDev, d);
    if (!pDevInfo)
        return SAR_INVALIDPARAMERR;
    if ((rv = dev_tx(d, &tx, 0)) == SAR_OK) {
        memset(pDevInfo, 0, sizeof *pDevInfo);
        pDevInfo->Version.major = 1;
        pDevInfo->Version.minor = 0;
        copy_field(pDevInfo->Manufacturer, sizeof pDevInfo->Manufacturer, "sitoken softskf");
        copy_field(pDevInfo->Issuer, sizeof pDevInfo->Issuer, "sitoken test bed");
        copy_field(pDevInfo->Label, sizeof pDevInfo->Label, tx.st.label);
        copy_field(pDevInfo->SerialNumber, sizeof pDevInfo->SerialNumber, tx.st.serial);
        pDevInfo->HWVersion.major = 1;
        pDevInfo->FirmwareVersion.major = 1;
        pDevInfo->AlgSymCap = SGD_SM4_ECB | SGD_SM4_CBC;
        pDevInfo->AlgAsymCap = SGD_RSA | alg_sm2_1() | alg_sm2_3();
        pDevInfo->AlgHashCap = SGD_SM3 | SGD_SHA1 | SGD_SHA256;
        pDevInfo->DevAuthAlgId = tx.st.auth_alg;
        pDevInfo->TotalSpace = SK_TOTAL_SPACE;
        pDevInfo->FreeSpace = SK_TOTAL_SPACE - dev_used_space(&tx.st);
        pDevInfo->MaxECCBufferSize = SK_MAX_ECC_BUFFER;
        pDevInfo->MaxBufferSize = SK_MAX_BUFFER;
    }
    tx_end(&tx);
    return rv;
}

ULONG SKF_LockDev(DEVHANDLE hDev, ULONG ulTimeOut)
{
    int fd;
    ULONG rv;
    DEV(hDev, d);
    if (d->lock_fd >= 0)
        return SAR_OK;
    rv = hold_lock(d->root, d->name, 1, ulTimeOut, &fd);
    if (rv == SAR_OK)
        d->lock_fd = fd;
    return rv;
}

ULONG SKF_UnlockDev(DEVHANDLE hDev)
{
    DEV(hDev, d);
    if (d->lock_fd >= 0)
        close(d->lock_fd);
    d->lock_fd = -1;
    return SAR_OK;
}

/* A software token has no APDU layer; vendors without one answer the same way. */
ULONG SKF_Transmit(DEVHANDLE hDev, BYTE *pbCommand, ULONG ulCommandLen, BYTE *pbData,
                   ULONG *pulDataLen)
{
    (void)pbCommand;
    (void)ulCommandLen;
    (void)pbData;
    (void)pulDataLen;
    DEV(hDev, d);
    (void)d;
    return SAR_NOTSUPPORTYETERR;
}

/* ---- plug events: the store's devices are polled for a change of presence ---- */

static pthread_mutex_t wait_mu = PTHREAD_MUTEX_INITIALIZER;
static volatile int wait_cancelled;

static int present_list(char **list, size_t *n)
{
    char root[4096];
    if (store_root(root, sizeof root) != SAR_OK)
        return -1;
    return store_list_devices(root, 1, list, n) == SAR_OK ? 0 : -1;
}

static int in_list(const char *list, size_t n, const char *name)
{
    for (size_t i = 0; i < n && list[i];) {
        if (!strcmp(list + i, name))
            return 1;
        i += strlen(list + i) + 1;
    }
    return 0;
}

/* Finds a name that is in `a` but not in `b`. */
static const char *first_missing(const char *a, size_t na, const char *b, size_t nb)
{
    for (size_t i = 0; i < na && a[i]; i += strlen(a + i) + 1)
        if (!in_list(b, nb, a + i))
            return a + i;
    return NULL;
}

ULONG SKF_WaitForDevEvent(LPSTR szDevName, ULONG *pulDevNameLen, ULONG *pulEvent)
{
    char *before = NULL, *now = NULL;
    size_t nb = 0, nn = 0;
    ULONG rv = SAR_NOT_EVENTERR;
    if (!pulDevNameLen || !pulEvent)
        return SAR_INVALIDPARAMERR;
    pthread_mutex_lock(&wait_mu);
    wait_cancelled = 0;
    if (present_list(&before, &nb) != 0) {
        pthread_mutex_unlock(&wait_mu);
        return SAR_FILEERR;
    }
    while (!wait_cancelled) {
        const char *name;
        usleep(50000);
        free(now);
        now = NULL;
        if (present_list(&now, &nn) != 0)
            continue;
        ULONG event = DEV_EVENT_INSERTED;
        if (!(name = first_missing(now, nn, before, nb))) {
            name = first_missing(before, nb, now, nn);
            event = DEV_EVENT_REMOVED;
        }
        if (!name)
            continue;
        rv = out_list(szDevName, pulDevNameLen, name, strlen(name) + 1);
        *pulEvent = event;
        break;
    }
    free(before);
    free(now);
    pthread_mutex_unlock(&wait_mu);
    return rv;
}

ULONG SKF_CancelWaitForDevEvent(void)
{
    wait_cancelled = 1;
    return SAR_OK;
}

/* ---- randomness and device authentication ---- */

ULONG SKF_GenRandom(DEVHANDLE hDev, BYTE *pbRandom, ULONG ulRandomLen)
{
    DEV(hDev, d);
    if (!pbRandom || ulRandomLen == 0)
        return SAR_INVALIDPARAMERR;
    if (ulRandomLen > SK_MAX_BUFFER)
        return SAR_INDATALENERR;
    if (random_bytes(pbRandom, ulRandomLen) != SAR_OK)
        return SAR_GENRANDERR;
    /* The latest random (its first 16 bytes) is the challenge DevAuth answers. */
    d->challenge_len = ulRandomLen < 16 ? ulRandomLen : 16;
    memset(d->challenge, 0, sizeof d->challenge);
    memcpy(d->challenge, pbRandom, d->challenge_len);
    return SAR_OK;
}

/* Accepts E(challenge || zeros) (16 bytes) and, as skf-rs sends it, the same block followed by
 * a PKCS#5 padding block (32 bytes). Each challenge answers one attempt. */
ULONG SKF_DevAuth(DEVHANDLE hDev, BYTE *pbAuthData, ULONG ulLen)
{
    unsigned char expect[32], pad[16];
    sk_tx tx;
    ULONG rv;
    DEV(hDev, d);
    if (!pbAuthData)
        return SAR_INVALIDPARAMERR;
    if (ulLen != 16 && ulLen != 32)
        return SAR_INDATALENERR;
    if (!d->challenge_len)
        return SAR_FAIL; /* no GenRandom first */
    if ((rv = dev_tx(d, &tx, 0)) == SAR_OK) {
        memset(pad, 16, sizeof pad);
        rv = sm4_ecb(1, tx.st.auth_key, d->challenge, 16, expect);
        if (rv == SAR_OK)
            rv = sm4_ecb(1, tx.st.auth_key, pad, 16, expect + 16);
        if (rv == SAR_OK)
            rv = ct_equal(expect, pbAuthData, ulLen) ? SAR_OK : SAR_FAIL;
    }
    tx_end(&tx);
    d->challenge_len = 0;
    wipe(d->challenge, sizeof d->challenge);
    wipe(expect, sizeof expect);
    d->authed = rv == SAR_OK;
    return rv;
}

ULONG SKF_ChangeDevAuthKey(DEVHANDLE hDev, BYTE *pbKeyValue, ULONG ulKeyLen)
{
    sk_tx tx;
    ULONG rv;
    DEV(hDev, d);
    if (!pbKeyValue)
        return SAR_INVALIDPARAMERR;
    if (ulKeyLen != 16)
        return SAR_INDATALENERR;
    if (!d->authed)
        return SAR_USER_NOT_LOGGED_IN;
    if ((rv = dev_tx(d, &tx, 1)) == SAR_OK) {
        memcpy(tx.st.auth_key, pbKeyValue, 16);
        rv = tx_commit(&tx);
    }
    tx_end(&tx);
    return rv;
}
