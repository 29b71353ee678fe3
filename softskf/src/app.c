/* Spec 7.3 and the PIN half of 7.2: applications, their admin and user PINs, retry counters. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "internal.h"

ULONG app_tx(sk_apph *a, sk_tx *tx, int write, sk_app **app)
{
    ULONG rv = dev_tx(a->dev, tx, write);
    if (rv == SAR_OK && !(*app = dev_find_app(&tx->st, a->name)))
        rv = SAR_APPLICATION_NOT_EXISTS;
    return rv;
}

/* Shared by app_run and cont_run: `rv` is how opening the view went. */
ULONG view_run(ULONG rv, sk_view *v, int write, sk_op op, void *arg)
{
    if (rv == SAR_OK)
        rv = op(v, arg);
    if (rv == SAR_OK && write)
        rv = tx_commit(&v->tx);
    tx_end(&v->tx);
    return rv;
}

ULONG app_run(sk_apph *a, int write, sk_op op, void *arg)
{
    sk_view v = {.cont = NULL};
    return view_run(app_tx(a, &v.tx, write, &v.app), &v, write, op, arg);
}

int rights_ok(const sk_apph *a, uint32_t rights)
{
    if (rights == SECURE_ANYONE_ACCOUNT)
        return 1;
    if ((rights & SECURE_USER_ACCOUNT) && a->login == USER_TYPE)
        return 1;
    return (rights & SECURE_ADM_ACCOUNT) && a->login == ADMIN_TYPE;
}

/* A PIN must be NUL-terminated within SK_MAX_PIN bytes and at least SK_MIN_PIN long. */
static ULONG pin_len_ok(const char *pin, size_t *len)
{
    size_t n;
    if (!pin)
        return SAR_INVALIDPARAMERR;
    n = strnlen(pin, SK_MAX_PIN + 1);
    if (n < SK_MIN_PIN || n > SK_MAX_PIN)
        return SAR_PIN_LEN_RANGE;
    *len = n;
    return SAR_OK;
}

static ULONG pin_set(sk_pin *p, const char *pin, size_t n)
{
    if (random_bytes(p->salt, sizeof p->salt) != SAR_OK)
        return SAR_GENRANDERR;
    return pin_hash(p->salt, pin, n, p->hash);
}

static void put_retry(ULONG *out, uint32_t v)
{
    if (out)
        *out = v;
}

/* Compares a PIN and moves the counter: a match restores it to the maximum, a miss takes one
 * try. A miss that uses the last try answers SAR_PIN_INCORRECT with 0; after that, LOCKED. */
static ULONG pin_check(sk_pin *p, const char *pin, size_t n, ULONG *retry)
{
    unsigned char h[32];
    ULONG rv;
    if (p->remain == 0) {
        put_retry(retry, 0);
        return SAR_PIN_LOCKED;
    }
    if ((rv = pin_hash(p->salt, pin, n, h)) != SAR_OK)
        return rv;
    if (ct_equal(h, p->hash, sizeof h)) {
        p->remain = p->max;
        put_retry(retry, p->remain);
        return SAR_OK;
    }
    p->remain--;
    put_retry(retry, p->remain);
    return SAR_PIN_INCORRECT;
}

static ULONG new_app(sk_dev *st, const char *name, const char *admin_pin, size_t na,
                     uint32_t admin_max, const char *user_pin, size_t nu, uint32_t user_max,
                     uint32_t rights)
{
    sk_app *apps, *a;
    ULONG rv;
    if (dev_find_app(st, name))
        return SAR_APPLICATION_EXISTS;
    if (st->napps >= SK_MAX_APPS)
        return SAR_NO_ROOM;
    if (!(apps = realloc(st->apps, (st->napps + 1) * sizeof *apps)))
        return SAR_MEMORYERR;
    st->apps = apps;
    a = &apps[st->napps];
    memset(a, 0, sizeof *a);
    strcpy(a->name, name);
    a->create_rights = rights;
    a->pin[ADMIN_TYPE] = (sk_pin){.max = admin_max, .remain = admin_max, .is_default = 1};
    a->pin[USER_TYPE] = (sk_pin){.max = user_max, .remain = user_max, .is_default = 1};
    if ((rv = pin_set(&a->pin[ADMIN_TYPE], admin_pin, na)) != SAR_OK ||
        (rv = pin_set(&a->pin[USER_TYPE], user_pin, nu)) != SAR_OK)
        return rv;
    st->napps++;
    return SAR_OK;
}

static ULONG open_app_handle(sk_devh *d, const char *name, HAPPLICATION *ph)
{
    sk_apph *a = handle_new(K_APP, sizeof *a, d);
    if (!a)
        return SAR_MEMORYERR;
    a->dev = d;
    strcpy(a->name, name);
    a->login = -1;
    *ph = a;
    return SAR_OK;
}

ULONG SKF_CreateApplication(DEVHANDLE hDev, LPSTR szAppName, LPSTR szAdminPin,
                            DWORD dwAdminPinRetryCount, LPSTR szUserPin, DWORD dwUserPinRetryCount,
                            DWORD dwCreateFileRights, HAPPLICATION *phApplication)
{
    size_t na, nu;
    sk_tx tx;
    ULONG rv;
    DEV(hDev, d);
    if (!phApplication)
        return SAR_INVALIDPARAMERR;
    if (name_ok(szAppName, SK_MAX_APP_NAME, NULL) != SAR_OK)
        return szAppName ? SAR_APPLICATION_NAME_INVALID : SAR_INVALIDPARAMERR;
    if ((rv = pin_len_ok(szAdminPin, &na)) != SAR_OK || (rv = pin_len_ok(szUserPin, &nu)) != SAR_OK)
        return rv;
    if (dwAdminPinRetryCount < 1 || dwAdminPinRetryCount > SK_MAX_RETRY ||
        dwUserPinRetryCount < 1 || dwUserPinRetryCount > SK_MAX_RETRY ||
        (dwCreateFileRights & ~0xFFu))
        return SAR_INVALIDPARAMERR;
    if (!d->authed)
        return SAR_USER_NOT_LOGGED_IN;
    if ((rv = dev_tx(d, &tx, 1)) == SAR_OK)
        rv = new_app(&tx.st, szAppName, szAdminPin, na, dwAdminPinRetryCount, szUserPin, nu,
                     dwUserPinRetryCount, dwCreateFileRights);
    if (rv == SAR_OK)
        rv = tx_commit(&tx);
    tx_end(&tx);
    return rv == SAR_OK ? open_app_handle(d, szAppName, phApplication) : rv;
}

ULONG SKF_EnumApplication(DEVHANDLE hDev, LPSTR szAppName, ULONG *pulSize)
{
    sk_tx tx;
    ULONG rv;
    DEV(hDev, d);
    if (!pulSize)
        return SAR_INVALIDPARAMERR;
    if ((rv = dev_tx(d, &tx, 0)) == SAR_OK)
        rv = out_names(tx.st.apps, tx.st.napps, sizeof(sk_app), szAppName, pulSize);
    tx_end(&tx);
    return rv;
}

ULONG SKF_DeleteApplication(DEVHANDLE hDev, LPSTR szAppName)
{
    sk_tx tx;
    ULONG rv;
    sk_app *a;
    DEV(hDev, d);
    if ((rv = name_ok(szAppName, SK_MAX_APP_NAME, NULL)) != SAR_OK)
        return szAppName ? SAR_APPLICATION_NAME_INVALID : rv;
    if (!d->authed)
        return SAR_USER_NOT_LOGGED_IN;
    if ((rv = dev_tx(d, &tx, 1)) == SAR_OK) {
        if (!(a = dev_find_app(&tx.st, szAppName))) {
            rv = SAR_APPLICATION_NOT_EXISTS;
        } else {
            app_free(a);
            array_remove(tx.st.apps, &tx.st.napps, sizeof *a, a);
            rv = tx_commit(&tx);
        }
    }
    tx_end(&tx);
    return rv;
}

ULONG SKF_OpenApplication(DEVHANDLE hDev, LPSTR szAppName, HAPPLICATION *phApplication)
{
    sk_tx tx;
    ULONG rv;
    DEV(hDev, d);
    if (!phApplication)
        return SAR_INVALIDPARAMERR;
    if ((rv = name_ok(szAppName, SK_MAX_APP_NAME, NULL)) != SAR_OK)
        return szAppName ? SAR_APPLICATION_NAME_INVALID : rv;
    if ((rv = dev_tx(d, &tx, 0)) == SAR_OK && !dev_find_app(&tx.st, szAppName))
        rv = SAR_APPLICATION_NOT_EXISTS;
    tx_end(&tx);
    return rv == SAR_OK ? open_app_handle(d, szAppName, phApplication) : rv;
}

ULONG SKF_CloseApplication(HAPPLICATION hApplication)
{
    APP(hApplication, a);
    handle_free(a); /* its containers close with it, and its security state is dropped */
    return SAR_OK;
}

/* ---- PINs ---- */

ULONG SKF_VerifyPIN(HAPPLICATION hApplication, ULONG ulPINType, LPSTR szPIN, ULONG *pulRetryCount)
{
    size_t n;
    sk_tx tx;
    sk_app *app;
    ULONG rv, rv2;
    APP(hApplication, a);
    if (ulPINType != ADMIN_TYPE && ulPINType != USER_TYPE)
        return SAR_USER_TYPE_INVALID;
    if ((rv = pin_len_ok(szPIN, &n)) != SAR_OK)
        return rv;
    if ((rv = app_tx(a, &tx, 1, &app)) == SAR_OK) {
        uint32_t before = app->pin[ulPINType].remain;
        rv = pin_check(&app->pin[ulPINType], szPIN, n, pulRetryCount);
        /* Every change of the counter is stored before the caller learns the result. */
        if (app->pin[ulPINType].remain != before && (rv2 = tx_commit(&tx)) != SAR_OK)
            rv = rv2;
    }
    tx_end(&tx);
    if (rv == SAR_OK)
        a->login = (int)ulPINType;
    return rv;
}

ULONG SKF_ChangePIN(HAPPLICATION hApplication, ULONG ulPINType, LPSTR szOldPin, LPSTR szNewPin,
                    ULONG *pulRetryCount)
{
    size_t no, nn;
    sk_tx tx;
    sk_app *app;
    ULONG rv, rv2;
    APP(hApplication, a);
    if (ulPINType != ADMIN_TYPE && ulPINType != USER_TYPE)
        return SAR_USER_TYPE_INVALID;
    if ((rv = pin_len_ok(szOldPin, &no)) != SAR_OK || (rv = pin_len_ok(szNewPin, &nn)) != SAR_OK)
        return rv;
    if ((rv = app_tx(a, &tx, 1, &app)) == SAR_OK) {
        sk_pin *p = &app->pin[ulPINType];
        uint32_t before = p->remain;
        rv = pin_check(p, szOldPin, no, pulRetryCount);
        if (rv == SAR_OK && (rv = pin_set(p, szNewPin, nn)) == SAR_OK)
            p->is_default = 0;
        if ((rv == SAR_OK || p->remain != before) && (rv2 = tx_commit(&tx)) != SAR_OK)
            rv = rv2;
    }
    tx_end(&tx);
    return rv;
}

ULONG SKF_GetPINInfo(HAPPLICATION hApplication, ULONG ulPINType, ULONG *pulMaxRetryCount,
                     ULONG *pulRemainRetryCount, BOOL *pbDefaultPin)
{
    sk_tx tx;
    sk_app *app;
    ULONG rv;
    APP(hApplication, a);
    if (ulPINType != ADMIN_TYPE && ulPINType != USER_TYPE)
        return SAR_USER_TYPE_INVALID;
    if (!pulMaxRetryCount || !pulRemainRetryCount || !pbDefaultPin)
        return SAR_INVALIDPARAMERR;
    if ((rv = app_tx(a, &tx, 0, &app)) == SAR_OK) {
        *pulMaxRetryCount = app->pin[ulPINType].max;
        *pulRemainRetryCount = app->pin[ulPINType].remain;
        *pbDefaultPin = app->pin[ulPINType].is_default ? TRUE : FALSE;
    }
    tx_end(&tx);
    return rv;
}

ULONG SKF_UnblockPIN(HAPPLICATION hApplication, LPSTR szAdminPIN, LPSTR szNewUserPIN,
                     ULONG *pulRetryCount)
{
    size_t na, nu;
    sk_tx tx;
    sk_app *app;
    ULONG rv, rv2;
    APP(hApplication, a);
    if ((rv = pin_len_ok(szAdminPIN, &na)) != SAR_OK || (rv = pin_len_ok(szNewUserPIN, &nu)) != SAR_OK)
        return rv;
    if ((rv = app_tx(a, &tx, 1, &app)) == SAR_OK) {
        sk_pin *admin = &app->pin[ADMIN_TYPE], *user = &app->pin[USER_TYPE];
        uint32_t before = admin->remain;
        rv = pin_check(admin, szAdminPIN, na, pulRetryCount);
        if (rv == SAR_OK && (rv = pin_set(user, szNewUserPIN, nu)) == SAR_OK) {
            user->remain = user->max;
            user->is_default = 0;
        }
        if ((rv == SAR_OK || admin->remain != before) && (rv2 = tx_commit(&tx)) != SAR_OK)
            rv = rv2;
    }
    tx_end(&tx);
    return rv;
}

ULONG SKF_ClearSecureState(HAPPLICATION hApplication)
{
    APP(hApplication, a);
    a->login = -1;
    return SAR_OK;
}
