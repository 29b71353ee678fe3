/* Spec 7.5: containers, their certificates, and the public half of their keys. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "internal.h"

ULONG cont_tx(sk_conth *c, sk_tx *tx, int write, sk_app **app, sk_cont **cont)
{
    ULONG rv = app_tx(c->app, tx, write, app);
    /* A container deleted under an open handle reads as gone, like a removed file. */
    if (rv == SAR_OK && !(*cont = app_find_cont(*app, c->name)))
        rv = SAR_FILE_NOT_EXIST;
    return rv;
}

static ULONG open_cont_handle(sk_apph *a, const char *name, HCONTAINER *ph)
{
    sk_conth *c = handle_new(K_CONT, sizeof *c, a);
    if (!c)
        return SAR_MEMORYERR;
    c->app = a;
    strcpy(c->name, name);
    *ph = c;
    return SAR_OK;
}

static ULONG add_cont(sk_app *app, const char *name)
{
    sk_cont *conts;
    if (app_find_cont(app, name))
        return SAR_FILE_ALREADY_EXIST;
    if (app->nconts >= SK_MAX_CONTAINERS)
        return SAR_REACH_MAX_CONTAINER_COUNT;
    if (!(conts = realloc(app->conts, (app->nconts + 1) * sizeof *conts)))
        return SAR_MEMORYERR;
    app->conts = conts;
    memset(&conts[app->nconts], 0, sizeof *conts);
    strcpy(conts[app->nconts].name, name);
    app->nconts++;
    return SAR_OK;
}

ULONG SKF_CreateContainer(HAPPLICATION hApplication, LPSTR szContainerName, HCONTAINER *phContainer)
{
    sk_tx tx;
    sk_app *app;
    ULONG rv;
    APP(hApplication, a);
    if (!phContainer)
        return SAR_INVALIDPARAMERR;
    if ((rv = name_ok(szContainerName, SK_MAX_CONT_NAME, NULL)) != SAR_OK)
        return rv;
    if ((rv = app_tx(a, &tx, 1, &app)) == SAR_OK) {
        if (!rights_ok(a, app->create_rights))
            rv = SAR_USER_NOT_LOGGED_IN;
        else if ((rv = add_cont(app, szContainerName)) == SAR_OK)
            rv = tx_commit(&tx);
    }
    tx_end(&tx);
    return rv == SAR_OK ? open_cont_handle(a, szContainerName, phContainer) : rv;
}

ULONG SKF_DeleteContainer(HAPPLICATION hApplication, LPSTR szContainerName)
{
    sk_tx tx;
    sk_app *app;
    sk_cont *c;
    ULONG rv;
    APP(hApplication, a);
    if ((rv = name_ok(szContainerName, SK_MAX_CONT_NAME, NULL)) != SAR_OK)
        return rv;
    if ((rv = app_tx(a, &tx, 1, &app)) == SAR_OK) {
        if (!rights_ok(a, app->create_rights)) {
            rv = SAR_USER_NOT_LOGGED_IN;
        } else if (!(c = app_find_cont(app, szContainerName))) {
            rv = SAR_FILE_NOT_EXIST;
        } else {
            cont_free(c);
            array_remove(app->conts, &app->nconts, sizeof *c, c);
            rv = tx_commit(&tx);
        }
    }
    tx_end(&tx);
    return rv;
}

ULONG SKF_OpenContainer(HAPPLICATION hApplication, LPSTR szContainerName, HCONTAINER *phContainer)
{
    sk_tx tx;
    sk_app *app;
    ULONG rv;
    APP(hApplication, a);
    if (!phContainer)
        return SAR_INVALIDPARAMERR;
    if ((rv = name_ok(szContainerName, SK_MAX_CONT_NAME, NULL)) != SAR_OK)
        return rv;
    if ((rv = app_tx(a, &tx, 0, &app)) == SAR_OK && !app_find_cont(app, szContainerName))
        rv = SAR_FILE_NOT_EXIST;
    tx_end(&tx);
    return rv == SAR_OK ? open_cont_handle(a, szContainerName, phContainer) : rv;
}

ULONG SKF_CloseContainer(HCONTAINER hContainer)
{
    CONT(hContainer, c);
    handle_free(c);
    return SAR_OK;
}

ULONG SKF_EnumContainer(HAPPLICATION hApplication, LPSTR szContainerName, ULONG *pulSize)
{
    sk_tx tx;
    sk_app *app;
    ULONG rv;
    APP(hApplication, a);
    if (!pulSize)
        return SAR_INVALIDPARAMERR;
    if ((rv = app_tx(a, &tx, 0, &app)) == SAR_OK)
        rv = out_names(app->conts, app->nconts, sizeof(sk_cont), szContainerName, pulSize);
    tx_end(&tx);
    return rv;
}

static ULONG container_type(HCONTAINER hContainer, ULONG *pulContainerType)
{
    sk_tx tx;
    sk_app *app;
    sk_cont *cont;
    ULONG rv;
    CONT(hContainer, c);
    if (!pulContainerType)
        return SAR_INVALIDPARAMERR;
    if ((rv = cont_tx(c, &tx, 0, &app, &cont)) == SAR_OK)
        *pulContainerType = cont->type;
    tx_end(&tx);
    return rv;
}

/* The quirk build (libsoftskf-quirks.so) exports only the misspelled name, as some vendors do. */
#ifndef SOFTSKF_QUIRK_SYMBOLS
ULONG SKF_GetContainerType(HCONTAINER hContainer, ULONG *pulContainerType)
{
    return container_type(hContainer, pulContainerType);
}
#else
ULONG SKF_GetContianerType(HCONTAINER hContainer, ULONG *pulContainerType)
{
    return container_type(hContainer, pulContainerType);
}
#endif

ULONG SKF_ImportCertificate(HCONTAINER hContainer, BOOL bSignFlag, BYTE *pbCert, ULONG ulCertLen)
{
    sk_tx tx;
    sk_app *app;
    sk_cont *cont;
    ULONG rv;
    CONT(hContainer, c);
    if (!pbCert || ulCertLen == 0)
        return SAR_INVALIDPARAMERR;
    if (ulCertLen > SK_MAX_CERT)
        return SAR_INDATALENERR;
    if (c->app->login != USER_TYPE)
        return SAR_USER_NOT_LOGGED_IN;
    if ((rv = cont_tx(c, &tx, 1, &app, &cont)) == SAR_OK) {
        sk_buf *slot = bSignFlag ? &cont->sign_cert : &cont->enc_cert;
        size_t old = slot->n;
        if (dev_used_space(&tx.st) - old + ulCertLen > SK_TOTAL_SPACE)
            rv = SAR_NO_ROOM;
        else if (buf_set(slot, pbCert, ulCertLen))
            rv = SAR_MEMORYERR;
        else
            rv = tx_commit(&tx);
    }
    tx_end(&tx);
    return rv;
}

ULONG SKF_ExportCertificate(HCONTAINER hContainer, BOOL bSignFlag, BYTE *pbCert, ULONG *pulCertLen)
{
    sk_tx tx;
    sk_app *app;
    sk_cont *cont;
    ULONG rv;
    CONT(hContainer, c);
    if (!pulCertLen)
        return SAR_INVALIDPARAMERR;
    if ((rv = cont_tx(c, &tx, 0, &app, &cont)) == SAR_OK) {
        sk_buf *slot = bSignFlag ? &cont->sign_cert : &cont->enc_cert;
        rv = slot->n ? out_bytes(pbCert, pulCertLen, slot->p, slot->n) : SAR_CERTNOTFOUNTERR;
    }
    tx_end(&tx);
    return rv;
}

ULONG SKF_ExportPublicKey(HCONTAINER hContainer, BOOL bSignFlag, BYTE *pbBlob, ULONG *pulBlobLen)
{
    sk_tx tx;
    sk_app *app;
    sk_cont *cont;
    ULONG rv;
    CONT(hContainer, c);
    if (!pulBlobLen)
        return SAR_INVALIDPARAMERR;
    if ((rv = cont_tx(c, &tx, 0, &app, &cont)) == SAR_OK) {
        sk_buf *key = bSignFlag ? &cont->sign_key : &cont->enc_key;
        if (!key->n) {
            rv = SAR_KEYNOTFOUNTERR;
        } else if (cont->type == CONTAINER_ECC) {
            ECCPUBLICKEYBLOB blob;
            unsigned char pub[64];
            if ((rv = sm2_public_of(key->p, pub)) == SAR_OK && (rv = ecc_pub_to_blob(pub, &blob)) == SAR_OK)
                rv = out_bytes(pbBlob, pulBlobLen, &blob, sizeof blob);
        } else {
            RSAPUBLICKEYBLOB blob;
            if ((rv = rsa_pub_blob(key, &blob)) == SAR_OK)
                rv = out_bytes(pbBlob, pulBlobLen, &blob, sizeof blob);
        }
    }
    tx_end(&tx);
    return rv;
}
