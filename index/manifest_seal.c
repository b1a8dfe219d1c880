/* A manifest's own checksum: the last member of its JSON object, so that damage anywhere in the
 * manifest (whose other checksums cover only the version's other files) is caught on open. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "index_internal.h"

#define SEAL_KEY "\"manifest_crc32\": "
#define SEAL_END "\n}\n"
#define MAX_MANIFEST (1u << 20) /* a manifest is about 1 KB; anything this big is not one */

int lr_index_manifest_write_sealed(const char *path, const char *body, lr_err *err) {
    size_t n = strlen(body);
    if (n < 3 || strcmp(body + n - 2, "\n}") != 0) /* an empty object, or not JSON_INDENT's layout */
        return lr_err_set(err, LR_EINVAL, "%s: the manifest is not an indented JSON object", path);
    char *text = malloc(n + sizeof ",\n  " SEAL_KEY + 16);
    if (!text) return lr_err_set(err, LR_ENOMEM, "%s: out of memory", path);
    int len = sprintf(text, "%.*s,\n  " SEAL_KEY, (int)(n - 2), body);
    uLong crc = crc32(crc32(0, NULL, 0), (const Bytef *)text, (uInt)len);
    len += sprintf(text + len, "%lu" SEAL_END, (unsigned long)crc);
    FILE *f = fopen(path, "wb");
    int rc = LR_OK;
    if (!f) rc = lr_err_set(err, LR_EIO, "%s: cannot create: %s", path, strerror(errno));
    else if (fwrite(text, 1, (size_t)len, f) != (size_t)len || fflush(f) != 0)
        rc = lr_err_set(err, LR_EIO, "%s: write failed: %s", path, strerror(errno));
    if (f && fclose(f) != 0 && !rc) rc = lr_err_set(err, LR_EIO, "%s: close failed: %s", path, strerror(errno));
    free(text);
    return rc ? rc : lr_data_sync_path(path, err);
}

/* The last place `key` (klen bytes) occurs in text (n bytes, which may hold NULs), or NULL. */
static const char *last_of(const char *text, size_t n, const char *key, size_t klen) {
    for (size_t i = n >= klen ? n - klen + 1 : 0; i-- > 0;)
        if (memcmp(text + i, key, klen) == 0) return text + i;
    return NULL;
}

/* The checksum after the key: the CRC-32 of every byte before its digits, then SEAL_END. */
static int check_seal(const char *path, const char *text, size_t n, const char *key, lr_err *err) {
    const char *digits = key + strlen(SEAL_KEY), *end = text + n, *p = digits;
    unsigned long long said = 0;
    while (p < end && p - digits < 10 && *p >= '0' && *p <= '9') said = said * 10 + (unsigned)(*p++ - '0');
    if (p == digits || said > 0xffffffffULL || (size_t)(end - p) != strlen(SEAL_END) ||
        memcmp(p, SEAL_END, strlen(SEAL_END)) != 0)
        return lr_err_set(err, LR_EFORMAT, "%s: the manifest's checksum is not followed by its end: the "
                          "file is damaged", path);
    uint32_t crc = (uint32_t)crc32(crc32(0, NULL, 0), (const Bytef *)text, (uInt)(digits - text));
    if (crc != said)
        return lr_err_set(err, LR_EFORMAT, "%s: checksum %08x, the manifest says %08x: the file is damaged",
                          path, crc, (uint32_t)said);
    return LR_OK;
}

int lr_index_manifest_read_sealed(const char *path, char **text, size_t *len, int *sealed, lr_err *err) {
    *text = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return lr_err_set(err, errno == ENOENT ? LR_ENOTFOUND : LR_EIO, "%s: no index there (%s)", path,
                          strerror(errno));
    char *buf = malloc(MAX_MANIFEST + 1);
    size_t n = buf ? fread(buf, 1, MAX_MANIFEST + 1, f) : 0;
    int bad = buf && ferror(f);
    fclose(f);
    int rc = LR_OK;
    if (!buf) rc = lr_err_set(err, LR_ENOMEM, "%s: out of memory", path);
    else if (bad) rc = lr_err_set(err, LR_EIO, "%s: read error", path);
    else if (n > MAX_MANIFEST) rc = lr_err_set(err, LR_EFORMAT, "%s: over %u bytes: not a manifest", path, MAX_MANIFEST);
    const char *key = rc ? NULL : last_of(buf, n, SEAL_KEY, strlen(SEAL_KEY));
    if (key) rc = check_seal(path, buf, n, key, err);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    *sealed = key != NULL;
    return LR_OK;
}
