/* Spec 7.4: file objects of an application, fixed in size, with read and write rights. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int rights_valid(uint32_t r)
{
    return (r & ~0xFFu) == 0;
}

static ULONG add_file(sk_dev *st, sk_app *app, const char *name, uint32_t size, uint32_t rd, uint32_t wr)
{
    sk_file *files, *f;
    if (app_find_file(app, name))
        return SAR_FILE_ALREADY_EXIST;
    if (app->nfiles >= SK_MAX_FILES || (uint64_t)dev_used_space(st) + size > SK_TOTAL_SPACE)
        return SAR_NO_ROOM;
    if (!(files = realloc(app->files, (app->nfiles + 1) * sizeof *files)))
        return SAR_MEMORYERR;
    app->files = files;
    f = &files[app->nfiles];
    memset(f, 0, sizeof *f);
    strcpy(f->name, name);
    f->size = size;
    f->read_rights = rd;
    f->write_rights = wr;
    if (size && !(f->data.p = calloc(1, size)))
        return SAR_MEMORYERR;
    f->data.n = size;
    app->nfiles++;
    return SAR_OK;
}

ULONG SKF_CreateFile(HAPPLICATION hApplication, LPSTR szFileName, ULONG ulFileSize, ULONG ulReadRights,
                     ULONG ulWriteRights)
{
    sk_tx tx;
    sk_app *app;
    ULONG rv;
    APP(hApplication, a);
    if ((rv = name_ok(szFileName, SK_MAX_FILE_NAME, NULL)) != SAR_OK)
        return rv;
    if (!rights_valid(ulReadRights) || !rights_valid(ulWriteRights))
        return SAR_INVALIDPARAMERR;
    if (ulFileSize > SK_TOTAL_SPACE)
        return SAR_NO_ROOM;
    if ((rv = app_tx(a, &tx, 1, &app)) == SAR_OK) {
        if (!rights_ok(a, app->create_rights))
            rv = SAR_USER_NOT_LOGGED_IN;
        else if ((rv = add_file(&tx.st, app, szFileName, ulFileSize, ulReadRights, ulWriteRights)) == SAR_OK)
            rv = tx_commit(&tx);
    }
    tx_end(&tx);
    return rv;
}

ULONG SKF_DeleteFile(HAPPLICATION hApplication, LPSTR szFileName)
{
    sk_tx tx;
    sk_app *app;
    sk_file *f;
    ULONG rv;
    APP(hApplication, a);
    if ((rv = name_ok(szFileName, SK_MAX_FILE_NAME, NULL)) != SAR_OK)
        return rv;
    if ((rv = app_tx(a, &tx, 1, &app)) == SAR_OK) {
        if (!(f = app_find_file(app, szFileName))) {
            rv = SAR_FILE_NOT_EXIST;
        } else if (!rights_ok(a, f->write_rights)) {
            rv = SAR_USER_NOT_LOGGED_IN;
        } else {
            buf_free(&f->data);
            array_remove(app->files, &app->nfiles, sizeof *f, f);
            rv = tx_commit(&tx);
        }
    }
    tx_end(&tx);
    return rv;
}

ULONG SKF_EnumFiles(HAPPLICATION hApplication, LPSTR szFileList, ULONG *pulSize)
{
    sk_tx tx;
    sk_app *app;
    ULONG rv;
    APP(hApplication, a);
    if (!pulSize)
        return SAR_INVALIDPARAMERR;
    if ((rv = app_tx(a, &tx, 0, &app)) == SAR_OK)
        rv = out_names(app->files, app->nfiles, sizeof(sk_file), szFileList, pulSize);
    tx_end(&tx);
    return rv;
}

ULONG SKF_GetFileInfo(HAPPLICATION hApplication, LPSTR szFileName, FILEATTRIBUTE *pFileInfo)
{
    sk_tx tx;
    sk_app *app;
    sk_file *f;
    ULONG rv;
    APP(hApplication, a);
    if (!pFileInfo)
        return SAR_INVALIDPARAMERR;
    if ((rv = name_ok(szFileName, SK_MAX_FILE_NAME, NULL)) != SAR_OK)
        return rv;
    if ((rv = app_tx(a, &tx, 0, &app)) == SAR_OK) {
        if (!(f = app_find_file(app, szFileName))) {
            rv = SAR_FILE_NOT_EXIST;
        } else {
            memset(pFileInfo, 0, sizeof *pFileInfo);
            memcpy(pFileInfo->FileName, f->name, strlen(f->name)); /* NUL-padded, 32 bytes */
            pFileInfo->FileSize = f->size;
            pFileInfo->ReadRights = f->read_rights;
            pFileInfo->WriteRights = f->write_rights;
        }
    }
    tx_end(&tx);
    return rv;
}

/* Reads min(ulSize, size - offset) bytes; *pulOutLen is the buffer's capacity on the way in. */
ULONG SKF_ReadFile(HAPPLICATION hApplication, LPSTR szFileName, ULONG ulOffset, ULONG ulSize,
                   BYTE *pbOutData, ULONG *pulOutLen)
{
    sk_tx tx;
    sk_app *app;
    sk_file *f;
    ULONG rv;
    APP(hApplication, a);
    if (!pulOutLen)
        return SAR_INVALIDPARAMERR;
    if ((rv = name_ok(szFileName, SK_MAX_FILE_NAME, NULL)) != SAR_OK)
        return rv;
    if ((rv = app_tx(a, &tx, 0, &app)) == SAR_OK) {
        if (!(f = app_find_file(app, szFileName))) {
            rv = SAR_FILE_NOT_EXIST;
        } else if (!rights_ok(a, f->read_rights)) {
            rv = SAR_USER_NOT_LOGGED_IN;
        } else if (ulOffset > f->size) {
            rv = SAR_INDATALENERR;
        } else {
            size_t n = f->size - ulOffset;
            if (ulSize < n)
                n = ulSize;
            rv = out_bytes(pbOutData, pulOutLen, f->data.p ? f->data.p + ulOffset : NULL, n);
        }
    }
    tx_end(&tx);
    return rv;
}

ULONG SKF_WriteFile(HAPPLICATION hApplication, LPSTR szFileName, ULONG ulOffset, BYTE *pbData, ULONG ulSize)
{
    sk_tx tx;
    sk_app *app;
    sk_file *f;
    ULONG rv;
    APP(hApplication, a);
    if (!pbData && ulSize)
        return SAR_INVALIDPARAMERR;
    if ((rv = name_ok(szFileName, SK_MAX_FILE_NAME, NULL)) != SAR_OK)
        return rv;
    if ((rv = app_tx(a, &tx, 1, &app)) == SAR_OK) {
        if (!(f = app_find_file(app, szFileName))) {
            rv = SAR_FILE_NOT_EXIST;
        } else if (!rights_ok(a, f->write_rights)) {
            rv = SAR_USER_NOT_LOGGED_IN;
        } else if ((uint64_t)ulOffset + ulSize > f->size) {
            rv = SAR_INDATALENERR;
        } else {
            if (ulSize)
                memcpy(f->data.p + ulOffset, pbData, ulSize);
            rv = tx_commit(&tx);
        }
    }
    tx_end(&tx);
    return rv;
}
