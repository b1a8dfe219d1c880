/* Shared by the harnesses whose reader takes a directory of several files: one input holds them
 * all, as sections in the style of `head`'s output for several files:
 *
 *     ==> NAME <==
 *     the file's bytes, up to the next header line or the end of the input
 *     ==> OTHER <==
 *     ...
 *
 * A header is a whole line "==> NAME <==" (at the start of the input or after a '\n'); the file
 * NAME gets the bytes after its header's '\n' up to the '\n' before the next header, that '\n'
 * included (so a file ends with its last line's newline, as files do). Bytes before the first
 * header are ignored; so is a section whose NAME the harness does not know (each harness has a
 * fixed list of names, so that the fuzzer spends its time on contents, not on file names); a
 * NAME given twice keeps its last section. Contents are any bytes (a gzip stream too). */
#ifndef LR_FUZZ_SECTIONS_H
#define LR_FUZZ_SECTIONS_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Where header line at data[at] ends ('\n' or the end), or 0 when data[at] starts no header;
 * *name, *name_len get the NAME. */
static inline size_t lr_fuzz_header_(const uint8_t *data, size_t size, size_t at, const char **name,
                                     size_t *name_len) {
    const uint8_t *nl = memchr(data + at, '\n', size - at);
    size_t end = nl ? (size_t)(nl - data) : size, n = end - at;
    if (n < 9 || memcmp(data + at, "==> ", 4) != 0 || memcmp(data + end - 4, " <==", 4) != 0)
        return 0;
    *name = (const char *)data + at + 4;
    *name_len = n - 8;
    return end;
}

/* Removes dir/NAME for each of the names (NULL-terminated), then writes each known section of
 * the input to dir/NAME. Returns the number of sections written, or -1 when one cannot be. */
static inline int lr_fuzz_write_sections(const char *dir, const char *const *names,
                                         const uint8_t *data, size_t size) {
    char path[1024];
    for (const char *const *n = names; *n; n++) {
        snprintf(path, sizeof path, "%s/%s", dir, *n);
        unlink(path);
    }
    int written = 0;
    size_t at = 0;
    const char *name = NULL;
    size_t name_len = 0, body = 0;
    for (;;) {
        /* the next header at or after `at` that starts a line */
        const char *next = NULL;
        size_t next_len = 0, hdr = at, hdr_end = 0;
        while (hdr < size && !(hdr_end = lr_fuzz_header_(data, size, hdr, &next, &next_len))) {
            const uint8_t *nl = memchr(data + hdr, '\n', size - hdr);
            hdr = nl ? (size_t)(nl - data) + 1 : size;
        }
        if (name) { /* the section before that header: its file */
            for (const char *const *n = names; *n; n++) {
                if (strlen(*n) != name_len || memcmp(*n, name, name_len) != 0) continue;
                snprintf(path, sizeof path, "%s/%s", dir, *n);
                FILE *f = fopen(path, "wb");
                size_t len = hdr - body;
                if (!f) return -1;
                int bad = len && fwrite(data + body, 1, len, f) != len;
                if ((fclose(f) != 0) | bad) return -1;
                written++;
            }
        }
        if (hdr >= size) return written;
        name = next;
        name_len = next_len;
        body = hdr_end < size ? hdr_end + 1 : size;
        at = body;
    }
}

#endif
