/* The resumable output of a long encoding job (content llm): rows go to OUT.partial as they are
 * made, in checksummed records, synced per record; an interrupted job started again with the same
 * inputs continues after the last whole record. Only a finished job writes OUT (aside, then
 * renamed), so a partial output can never be taken for a whole one.
 *
 * OUT.partial: a 64-byte header ("LRJOURNAL1", then u64 job fingerprint, total rows, dim, all
 * little-endian as this machine writes them) and records: u32 rows, u32 crc32 of the data, data. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "journal.h"

#define MAGIC "LRJOURNAL1"
enum { HEADER = 64 };

typedef struct {
    char magic[16];
    uint64_t job, rows, dim;
    char pad[HEADER - 40];
} journal_header;

static int io_fail(const char *path, const char *what, lr_err *err) {
    return lr_err_set(err, LR_EIO, "%s: %s: %s", path, what, strerror(errno));
}

static int write_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Counts the whole, intact records after the header; *end is where the first bad one starts. */
static size_t scan_records(int fd, size_t dim, off_t size, off_t *end) {
    size_t rows = 0, cap = 0;
    unsigned char *buf = NULL;
    off_t at = HEADER;
    for (;;) {
        uint32_t head[2];
        if (at + 8 > size || pread(fd, head, 8, at) != 8 || head[0] == 0) break;
        size_t bytes = (size_t)head[0] * dim * sizeof(float);
        if (at + 8 + (off_t)bytes > size) break;
        if (bytes > cap) {
            unsigned char *b = realloc(buf, bytes);
            if (!b) break; /* resume from here: the rest is made again */
            buf = b;
            cap = bytes;
        }
        if (pread(fd, buf, bytes, at + 8) != (ssize_t)bytes) break;
        if (crc32(0L, buf, (uInt)bytes) != head[1]) break;
        rows += head[0];
        at += 8 + (off_t)bytes;
    }
    free(buf);
    *end = at;
    return rows;
}

/* Picks up OUT.partial when it belongs to this job; 1 when it did, 0 when a new one is needed. */
static int try_resume(lr_cli_journal *j, uint64_t job) {
    int fd = open(j->path, O_RDWR | O_CLOEXEC);
    if (fd < 0) return 0;
    journal_header h;
    struct stat st;
    if (fstat(fd, &st) || pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h ||
        memcmp(h.magic, MAGIC, sizeof MAGIC) || h.job != job || h.rows != j->rows_total ||
        h.dim != j->dim) {
        close(fd);
        return 0;
    }
    off_t end;
    size_t rows = scan_records(fd, j->dim, st.st_size, &end);
    if (rows > j->rows_total || ftruncate(fd, end) || lseek(fd, end, SEEK_SET) != end) {
        close(fd);
        return 0;
    }
    j->fd = fd;
    j->rows_done = rows;
    return 1;
}

int lr_cli_journal_open(const char *out, uint64_t job, size_t rows, size_t dim, lr_cli_journal *j,
                        lr_err *err) {
    *j = (lr_cli_journal){.fd = -1, .rows_total = rows, .dim = dim};
    size_t n = strlen(out) + sizeof ".partial";
    if (!(j->path = malloc(n))) return lr_err_set(err, LR_ENOMEM, "out of memory");
    snprintf(j->path, n, "%s.partial", out);
    if (try_resume(j, job)) return LR_OK;
    j->fd = open(j->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    journal_header h = {.job = job, .rows = rows, .dim = dim};
    memcpy(h.magic, MAGIC, sizeof MAGIC);
    if (j->fd < 0 || write_all(j->fd, &h, sizeof h) || fdatasync(j->fd)) {
        int rc = io_fail(j->path, "cannot start the partial output", err);
        lr_cli_journal_close(j);
        return rc;
    }
    return LR_OK;
}

int lr_cli_journal_append(lr_cli_journal *j, const float *x, size_t rows, lr_err *err) {
    size_t bytes = rows * j->dim * sizeof(float);
    uint32_t head[2] = {(uint32_t)rows, (uint32_t)crc32(0L, (const Bytef *)x, (uInt)bytes)};
    off_t at = lseek(j->fd, 0, SEEK_CUR);
    if (write_all(j->fd, head, sizeof head) || write_all(j->fd, x, bytes) || fdatasync(j->fd)) {
        int rc = io_fail(j->path, "writing", err);
        if (at >= 0 && ftruncate(j->fd, at) == 0) lseek(j->fd, at, SEEK_SET); /* drop the torn record */
        return rc;
    }
    j->rows_done += rows;
    return LR_OK;
}

/* Copies the records' rows, in order, into dst (rows_total * dim floats). */
static int gather(const lr_cli_journal *j, float *dst, lr_err *err) {
    struct stat st;
    if (fstat(j->fd, &st)) return io_fail(j->path, "stat", err);
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, j->fd, 0);
    if (map == MAP_FAILED) return io_fail(j->path, "mmap", err);
    const unsigned char *p = (const unsigned char *)map + HEADER;
    size_t row = 0;
    while (row < j->rows_total) {
        uint32_t n;
        memcpy(&n, p, sizeof n);
        memcpy(dst + row * j->dim, p + 8, (size_t)n * j->dim * sizeof(float));
        p += 8 + (size_t)n * j->dim * sizeof(float);
        row += n;
    }
    munmap(map, (size_t)st.st_size);
    return LR_OK;
}

int lr_cli_journal_finish(lr_cli_journal *j, const char *out, lr_npy_dtype dtype, lr_err *err) {
    if (j->rows_done != j->rows_total)
        return lr_err_set(err, LR_EINVAL, "%s: %zu of %zu rows made", j->path, j->rows_done,
                          j->rows_total);
    float *all = malloc((j->rows_total ? j->rows_total : 1) * j->dim * sizeof *all);
    if (!all) return lr_err_set(err, LR_ENOMEM, "out of memory for %zu x %zu floats", j->rows_total, j->dim);
    int rc = gather(j, all, err);
    if (!rc) rc = lr_data_npy_write(out, all, j->rows_total, j->dim, dtype, err);
    free(all);
    if (!rc && unlink(j->path)) rc = io_fail(j->path, "cannot remove", err);
    return rc;
}

void lr_cli_journal_close(lr_cli_journal *j) {
    if (j->fd >= 0) close(j->fd);
    free(j->path);
    *j = (lr_cli_journal){.fd = -1};
}
