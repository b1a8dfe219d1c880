/* Test helper shared by the datasets/ and towers/ tests: hand-made .npy files. */
#ifndef LR_NPY_FIXTURE_H
#define LR_NPY_FIXTURE_H

#include <stdlib.h>
#include <string.h>

#include "lr_test.h"

/* Writes dir/name as numpy's writers lay it out: the magic, format `version`, `dict`, spaces
 * and a '\n' up to a multiple of `align` bytes (1: no padding), then `nbytes` of data. */
static inline int lr_test_write_npy(const char *dir, const char *name, unsigned version, const char *dict,
                                    size_t align, const void *data, size_t nbytes) {
    size_t prefix = version == 1 ? 10 : 12, dlen = strlen(dict);
    size_t total = prefix + dlen + 1;
    total = (total + align - 1) / align * align;
    size_t hlen = total - prefix;
    unsigned char *buf = malloc(total + nbytes);
    if (!buf) return -1;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)version;
    buf[7] = 0;
    buf[8] = (unsigned char)(hlen & 0xff);
    buf[9] = (unsigned char)(hlen >> 8);
    if (version != 1) buf[10] = buf[11] = 0;
    memcpy(buf + prefix, dict, dlen);
    memset(buf + prefix + dlen, ' ', total - prefix - dlen - 1);
    buf[total - 1] = '\n';
    if (nbytes) memcpy(buf + total, data, nbytes);
    int rc = lr_test_put_bytes(dir, name, buf, total + nbytes, 0);
    free(buf);
    return rc;
}

#endif /* LR_NPY_FIXTURE_H */
