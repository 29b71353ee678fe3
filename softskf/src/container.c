/* Spec 7.5: containers, their certificates, and the public half of their keys. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* A container deleted under an open handle reads as gone, like a removed file. */
static ULONG cont_tx(sk_conth *c, sk_view *v, int write)
{
    ULONG rv = app_tx(c->app, &v->tx, write, &v->app);
    if (rv == SAR_OK && !(v->cont = app_find_cont(v->app, c->name)))
        rv = SAR_FILE_NOT_EXIST;
    return rv;
}

ULONG cont_run(sk_conth *c, int write, sk_op op, void *arg)
{
    sk_view v;
    return view_run(cont_tx(c, &v, write), &v, write, op, arg);
}

ULONG key_run(sk_conth *c, int write, sk_op op, void *arg)
{
    if (c->app->login != USER_TYPE)
        return SAR_USER_NOT_LOGGED_IN;
    return cont_run(c, write, op, arg);
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

/* The operations on an application's containers, by name; `who` is the handle that asks. */
typedef struct {
    sk_apph *who;
    const char *name;
} cont_named;

static ULONG create_cont(sk_view *v, void *arg)
{
    cont_named *n = arg;
    if (!rights_ok(n->who, v->app->create_rights))
        return SAR_USER_NOT_LOGGED_IN;
    return add_cont(v->app, n->name);
}

static ULONG find_cont(sk_view *v, void *arg)
{
    return app_find_cont(v->app, ((cont_named *)arg)->name) ? SAR_OK : SAR_FILE_NOT_EXIST;
}

/* CreateContainer and OpenContainer: `op` on the named container, then a handle to it. */
static ULONG cont_handle_after(HAPPLICATION hApplication, LPSTR name, HCONTAINER *ph, int write, sk_op op)
{
    ULONG rv;
    APP(hApplication, a);
    cont_named arg = {a, name};
    if (!ph)
        return SAR_INVALIDPARAMERR;
    if ((rv = name_ok(name, SK_MAX_CONT_NAME, NULL)) != SAR_OK)
        return rv;
    rv = app_run(a, write, op, &arg);
    return rv == SAR_OK ? open_cont_handle(a, name, ph) : rv;
}

ULONG SKF_CreateContainer(HAPPLICATION hApplication, LPSTR szContainerName, HCONTAINER *phContainer)
{
    return cont_handle_after(hApplication, szContainerName, phContainer, 1, create_cont);
}

static ULONG delete_cont(sk_view *v, void *arg)
{
    cont_named *n = arg;
    sk_cont *c;
    if (!rights_ok(n->who, v->app->create_rights))
        return SAR_USER_NOT_LOGGED_IN;
    if (!(c = app_find_cont(v->app, n->name)))
        return SAR_FILE_NOT_EXIST;
    cont_free(c);
    array_remove(v->app->conts, &v->app->nconts, sizeof *c, c);
    return SAR_OK;
}

ULONG SKF_DeleteContainer(HAPPLICATION hApplication, LPSTR szContainerName)
{
    ULONG rv;
    APP(hApplication, a);
    cont_named arg = {a, szContainerName};
    if ((rv = name_ok(szContainerName, SK_MAX_CONT_NAME, NULL)) != SAR_OK)
        return rv;
    return app_run(a, 1, delete_cont, &arg);
}

ULONG SKF_OpenContainer(HAPPLICATION hApplication, LPSTR szContainerName, HCONTAINER *phContainer)
{
    return cont_handle_after(hApplication, szContainerName, phContainer, 0, find_cont);
}

ULONG SKF_CloseContainer(HCONTAINER hContainer)
{
    CONT(hContainer, c);
    handle_free(c);
    return SAR_OK;
}

ULONG enum_names(sk_view *v, void *arg)
{
    names_out *o = arg;
    if (o->files)
        return out_names(v->app->files, v->app->nfiles, sizeof(sk_file), o->buf, o->len);
    return out_names(v->app->conts, v->app->nconts, sizeof(sk_cont), o->buf, o->len);
}

ULONG SKF_EnumContainer(HAPPLICATION hApplication, LPSTR szContainerName, ULONG *pulSize)
{
    names_out arg = {0, szContainerName, pulSize};
    APP(hApplication, a);
    if (!pulSize)
        return SAR_INVALIDPARAMERR;
    return app_run(a, 0, enum_names, &arg);
}

static ULONG read_type(sk_view *v, void *arg)
{
    *(ULONG *)arg = v->cont->type;
    return SAR_OK;
}

static ULONG container_type(HCONTAINER hContainer, ULONG *pulContainerType)
{
    CONT(hContainer, c);
    if (!pulContainerType)
        return SAR_INVALIDPARAMERR;
    return cont_run(c, 0, read_type, pulContainerType);
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

/* A certificate or public key in or out: which half, the bytes, and their length. */
typedef struct {
    BOOL sign;
    BYTE *data;
    ULONG *len;   /* out: the caller's capacity, then the bytes written */
    ULONG len_in; /* in: the bytes given */
} half_io;

static ULONG import_cert(sk_view *v, void *arg)
{
    half_io *io = arg;
    sk_buf *slot = io->sign ? &v->cont->sign_cert : &v->cont->enc_cert;
    if (dev_used_space(&v->tx.st) - slot->n + io->len_in > SK_TOTAL_SPACE)
        return SAR_NO_ROOM;
    return buf_set(slot, io->data, io->len_in) ? SAR_MEMORYERR : SAR_OK;
}

ULONG SKF_ImportCertificate(HCONTAINER hContainer, BOOL bSignFlag, BYTE *pbCert, ULONG ulCertLen)
{
    half_io arg = {bSignFlag, pbCert, NULL, ulCertLen};
    CONT(hContainer, c);
    if (!pbCert || ulCertLen == 0)
        return SAR_INVALIDPARAMERR;
    if (ulCertLen > SK_MAX_CERT)
        return SAR_INDATALENERR;
    return key_run(c, 1, import_cert, &arg);
}

static ULONG export_cert(sk_view *v, void *arg)
{
    half_io *io = arg;
    sk_buf *slot = io->sign ? &v->cont->sign_cert : &v->cont->enc_cert;
    return slot->n ? out_bytes(io->data, io->len, slot->p, slot->n) : SAR_CERTNOTFOUNTERR;
}

ULONG SKF_ExportCertificate(HCONTAINER hContainer, BOOL bSignFlag, BYTE *pbCert, ULONG *pulCertLen)
{
    half_io arg = {bSignFlag, pbCert, pulCertLen, 0};
    CONT(hContainer, c);
    if (!pulCertLen)
        return SAR_INVALIDPARAMERR;
    return cont_run(c, 0, export_cert, &arg);
}

static ULONG export_public(sk_view *v, void *arg)
{
    half_io *io = arg;
    sk_buf *key = io->sign ? &v->cont->sign_key : &v->cont->enc_key;
    ULONG rv;
    if (!key->n)
        return SAR_KEYNOTFOUNTERR;
    if (v->cont->type == CONTAINER_ECC) {
        ECCPUBLICKEYBLOB blob;
        unsigned char pub[64];
        if ((rv = sm2_public_of(key->p, pub)) == SAR_OK && (rv = ecc_pub_to_blob(pub, &blob)) == SAR_OK)
            rv = out_bytes(io->data, io->len, &blob, sizeof blob);
        return rv;
    }
    RSAPUBLICKEYBLOB blob;
    if ((rv = rsa_pub_blob(key, &blob)) == SAR_OK)
        rv = out_bytes(io->data, io->len, &blob, sizeof blob);
    return rv;
}

ULONG SKF_ExportPublicKey(HCONTAINER hContainer, BOOL bSignFlag, BYTE *pbBlob, ULONG *pulBlobLen)
{
    half_io arg = {bSignFlag, pbBlob, pulBlobLen, 0};
    CONT(hContainer, c);
    if (!pulBlobLen)
        return SAR_INVALIDPARAMERR;
    return cont_run(c, 0, export_public, &arg);
}
