/* A PKCS#11 module for the test bed: it forwards every call to a real module (SoftHSM, named
 * by LYING_PKCS11_TARGET) and, on request, lies about the lengths it returns, so the suite can
 * show that sitoken never reads past a buffer because a module said so. It is a real module
 * loaded by sitoken like any other, not a mock of sitoken.
 *
 * LYING_PKCS11_MODE, read at every call: "sign" (C_Sign), "attribute" (C_GetAttributeValue),
 * "slots" (C_GetSlotList), "mechanisms" (C_GetMechanismList), "find" (C_FindObjects); unset:
 * honest. A lie claims more than the caller's buffer holds, after the real call succeeded.
 * lying_pkcs11_function_list_calls() says how often C_GetFunctionList was called.
 *
 * Built by the tests with: gcc -shared -fPIC -I src/sitoken/pkcs11 testbed/lying_pkcs11.c -ldl
 */
#include <stddef.h>
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "cryptoki.h"

#define OVERSTATE 1000

static CK_FUNCTION_LIST *real;
static CK_FUNCTION_LIST lying;
static int function_list_calls;

static int lying_about(const char *what)
{
    const char *mode = getenv("LYING_PKCS11_MODE");
    return mode && strcmp(mode, what) == 0;
}

static CK_RV lie_sign(CK_SESSION_HANDLE s, CK_BYTE *data, CK_ULONG len, CK_BYTE *sig,
                      CK_ULONG *sig_len)
{
    CK_ULONG given = sig_len ? *sig_len : 0;
    CK_RV rv = real->C_Sign(s, data, len, sig, sig_len);

    if (rv == 0 && sig && lying_about("sign"))
        *sig_len = given + OVERSTATE;
    return rv;
}

static CK_RV lie_attribute(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE *t, CK_ULONG n)
{
    CK_RV rv = real->C_GetAttributeValue(s, o, t, n);
    CK_ULONG i;

    if (lying_about("attribute"))
        for (i = 0; i < n; i++)
            if (t[i].pValue)
                t[i].ulValueLen += OVERSTATE;
    return rv;
}

static CK_RV lie_slots(CK_BBOOL present, CK_SLOT_ID *list, CK_ULONG *count)
{
    CK_RV rv = real->C_GetSlotList(present, list, count);

    if (rv == 0 && list && lying_about("slots"))
        *count += OVERSTATE;
    return rv;
}

static CK_RV lie_mechanisms(CK_SLOT_ID slot, CK_MECHANISM_TYPE *list, CK_ULONG *count)
{
    CK_RV rv = real->C_GetMechanismList(slot, list, count);

    if (rv == 0 && list && lying_about("mechanisms"))
        *count += OVERSTATE;
    return rv;
}

static CK_RV lie_find(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE *found, CK_ULONG max, CK_ULONG *count)
{
    CK_RV rv = real->C_FindObjects(s, found, max, count);

    if (rv == 0 && lying_about("find"))
        *count = max + OVERSTATE;
    return rv;
}

int lying_pkcs11_function_list_calls(void)
{
    return function_list_calls;
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST **out)
{
    CK_RV (*get)(CK_FUNCTION_LIST **);
    const char *target = getenv("LYING_PKCS11_TARGET");
    void *dl, *sym;
    CK_RV rv;

    function_list_calls++;
    if (!out)
        return 0x7; /* CKR_ARGUMENTS_BAD */
    if (!real) {
        dl = target ? dlopen(target, RTLD_NOW | RTLD_LOCAL) : NULL;
        sym = dl ? dlsym(dl, "C_GetFunctionList") : NULL;
        if (!sym)
            return 0x5; /* CKR_GENERAL_ERROR */
        memcpy(&get, &sym, sizeof get);
        rv = get(&real);
        if (rv != 0)
            return rv;
        lying = *real;
        lying.C_Sign = lie_sign;
        lying.C_GetAttributeValue = lie_attribute;
        lying.C_GetSlotList = lie_slots;
        lying.C_GetMechanismList = lie_mechanisms;
        lying.C_FindObjects = lie_find;
    }
    *out = &lying;
    return 0;
}
