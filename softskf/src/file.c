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

/* A file operation's inputs and outputs; `who` is the handle that asks (its login decides rights). */
typedef struct {
    sk_apph *who;
    const char *name;
    ULONG size, read_rights, write_rights; /* CreateFile */
    ULONG offset;                          /* ReadFile, WriteFile */
    BYTE *data;
    ULONG *len;
    FILEATTRIBUTE *info;
} file_io;

static ULONG create_file(sk_view *v, void *arg)
{
    file_io *io = arg;
    if (!rights_ok(io->who, v->app->create_rights))
        return SAR_USER_NOT_LOGGED_IN;
    return add_file(&v->tx.st, v->app, io->name, io->size, io->read_rights, io->write_rights);
}

ULONG SKF_CreateFile(HAPPLICATION hApplication, LPSTR szFileName, ULONG ulFileSize, ULONG ulReadRights,
                     ULONG ulWriteRights)
{
    ULONG rv;
    APP(hApplication, a);
    file_io io = {.who = a, .name = szFileName, .size = ulFileSize, .read_rights = ulReadRights,
                  .write_rights = ulWriteRights};
    if ((rv = name_ok(szFileName, SK_MAX_FILE_NAME, NULL)) != SAR_OK)
        return rv;
    if (!rights_valid(ulReadRights) || !rights_valid(ulWriteRights))
        return SAR_INVALIDPARAMERR;
    if (ulFileSize > SK_TOTAL_SPACE)
        return SAR_NO_ROOM;
    return app_run(a, 1, create_file, &io);
}

/* The named file, if the asker has `rights` (a field of the file: its read or write rights). */
static ULONG file_with(sk_view *v, const file_io *io, int write, sk_file **f)
{
    if (!(*f = app_find_file(v->app, io->name)))
        return SAR_FILE_NOT_EXIST;
    return rights_ok(io->who, write ? (*f)->write_rights : (*f)->read_rights) ? SAR_OK : SAR_USER_NOT_LOGGED_IN;
}

static ULONG delete_file(sk_view *v, void *arg)
{
    sk_file *f;
    ULONG rv = file_with(v, arg, 1, &f);
    if (rv == SAR_OK) {
        buf_free(&f->data);
        array_remove(v->app->files, &v->app->nfiles, sizeof *f, f);
    }
    return rv;
}

ULONG SKF_DeleteFile(HAPPLICATION hApplication, LPSTR szFileName)
{
    ULONG rv;
    APP(hApplication, a);
    file_io io = {.who = a, .name = szFileName};
    if ((rv = name_ok(szFileName, SK_MAX_FILE_NAME, NULL)) != SAR_OK)
        return rv;
    return app_run(a, 1, delete_file, &io);
}

ULONG SKF_EnumFiles(HAPPLICATION hApplication, LPSTR szFileList, ULONG *pulSize)
{
    names_out arg = {1, szFileList, pulSize};
    APP(hApplication, a);
    if (!pulSize)
        return SAR_INVALIDPARAMERR;
    return app_run(a, 0, enum_names, &arg);
}

static ULONG file_info(sk_view *v, void *arg)
{
    file_io *io = arg;
    sk_file *f = app_find_file(v->app, io->name);
    if (!f)
        return SAR_FILE_NOT_EXIST;
    memset(io->info, 0, sizeof *io->info);
    memcpy(io->info->FileName, f->name, strlen(f->name)); /* NUL-padded, 32 bytes */
    io->info->FileSize = f->size;
    io->info->ReadRights = f->read_rights;
    io->info->WriteRights = f->write_rights;
    return SAR_OK;
}

ULONG SKF_GetFileInfo(HAPPLICATION hApplication, LPSTR szFileName, FILEATTRIBUTE *pFileInfo)
{
    ULONG rv;
    APP(hApplication, a);
    file_io io = {.who = a, .name = szFileName, .info = pFileInfo};
    if (!pFileInfo)
        return SAR_INVALIDPARAMERR;
    if ((rv = name_ok(szFileName, SK_MAX_FILE_NAME, NULL)) != SAR_OK)
        return rv;
    return app_run(a, 0, file_info, &io);
}

static ULONG read_file(sk_view *v, void *arg)
{
    file_io *io = arg;
    sk_file *f;
    size_t n;
    ULONG rv = file_with(v, io, 0, &f);
    if (rv != SAR_OK)
        return rv;
    if (io->offset > f->size)
        return SAR_INDATALENERR;
    n = f->size - io->offset;
    if (io->size < n)
        n = io->size;
    return out_bytes(io->data, io->len, f->data.p ? f->data.p + io->offset : NULL, n);
}

/* Reads min(ulSize, size - offset) bytes; *pulOutLen is the buffer's capacity on the way in. */
ULONG SKF_ReadFile(HAPPLICATION hApplication, LPSTR szFileName, ULONG ulOffset, ULONG ulSize,
                   BYTE *pbOutData, ULONG *pulOutLen)
{
    ULONG rv;
    APP(hApplication, a);
    file_io io = {.who = a, .name = szFileName, .offset = ulOffset, .size = ulSize, .data = pbOutData,
                  .len = pulOutLen};
    if (!pulOutLen)
        return SAR_INVALIDPARAMERR;
    if ((rv = name_ok(szFileName, SK_MAX_FILE_NAME, NULL)) != SAR_OK)
        return rv;
    return app_run(a, 0, read_file, &io);
}

static ULONG write_file(sk_view *v, void *arg)
{
    file_io *io = arg;
    sk_file *f;
    ULONG rv = file_with(v, io, 1, &f);
    if (rv != SAR_OK)
        return rv;
    if ((uint64_t)io->offset + io->size > f->size)
        return SAR_INDATALENERR;
    if (io->size)
        memcpy(f->data.p + io->offset, io->data, io->size);
    return SAR_OK;
}

ULONG SKF_WriteFile(HAPPLICATION hApplication, LPSTR szFileName, ULONG ulOffset, BYTE *pbData, ULONG ulSize)
{
    ULONG rv;
    APP(hApplication, a);
    file_io io = {.who = a, .name = szFileName, .offset = ulOffset, .size = ulSize, .data = pbData};
    if (!pbData && ulSize)
        return SAR_INVALIDPARAMERR;
    if ((rv = name_ok(szFileName, SK_MAX_FILE_NAME, NULL)) != SAR_OK)
        return rv;
    return app_run(a, 1, write_file, &io);
}
