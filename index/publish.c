/* Index directories: versioned FAISS files with JSON manifests, published atomically. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <zlib.h>

#include "index_internal.h"
#include "lr_data.h"

int lr_index_file_crc32(const char *path, uint32_t *out, lr_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return lr_err_set(err, errno == ENOENT ? LR_ENOTFOUND : LR_EIO, "%s: cannot open: %s",
                              path, strerror(errno));
    unsigned char buf[1 << 16];
    uLong crc = crc32(0, NULL, 0);
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) crc = crc32(crc, buf, (uInt)n);
    int bad = ferror(f);
    fclose(f);
    if (bad) return lr_err_set(err, LR_EIO, "%s: read error", path);
    *out = (uint32_t)crc;
    return LR_OK;
}

/* The highest vNNNNNN in dir/versions (0 when none). */
static unsigned last_version(const char *versions) {
    DIR *d = opendir(versions);
    unsigned best = 0, v;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (sscanf(e->d_name, "v%u", &v) == 1 && strlen(e->d_name) == 7 && v > best) best = v;
    if (d) closedir(d);
    return best;
}

/* The publisher's key-values into the manifest: bounded, keys distinct, strings that fit. */
static int copy_meta(lr_index_manifest *m, const lr_index_kv *kv, size_t n, lr_err *err) {
    if (n > LR_INDEX_MAX_META) return lr_err_set(err, LR_EINVAL, "publish: %zu metadata entries, at most %d", n, LR_INDEX_MAX_META);
    for (size_t i = 0; i < n; i++) {
        if (!kv[i].key || !kv[i].key[0] || !kv[i].value || strlen(kv[i].key) >= sizeof m->meta[0].key ||
            strlen(kv[i].value) >= sizeof m->meta[0].value)
            return lr_err_set(err, LR_EINVAL, "publish: metadata entry %zu needs a key of 1 to %zu bytes and a "
                              "value of at most %zu", i, sizeof m->meta[0].key - 1, sizeof m->meta[0].value - 1);
        if (lr_index_manifest_meta(m, kv[i].key))
            return lr_err_set(err, LR_EINVAL, "publish: metadata key '%s' given twice", kv[i].key);
        snprintf(m->meta[i].key, sizeof m->meta[i].key, "%s", kv[i].key);
        snprintf(m->meta[i].value, sizeof m->meta[i].value, "%s", kv[i].value);
        m->n_meta = i + 1;
    }
    return LR_OK;
}

const char *lr_index_manifest_meta(const lr_index_manifest *m, const char *key) {
    for (size_t i = 0; i < m->n_meta; i++)
        if (strcmp(m->meta[i].key, key) == 0) return m->meta[i].value;
    return NULL;
}

static int write_manifest(const char *path, const lr_index_manifest *m, lr_err *err) {
    json_t *o = json_pack("{s:I, s:s, s:I, s:I, s:s, s:I, s:I, s:s, s:I, s:I, s:I, s:s, s:I}",
                          "format_version", (json_int_t)m->format, "version", m->version, "dim",
                          (json_int_t)m->dim, "count", (json_int_t)m->count, "factory", m->factory,
                          "nprobe", (json_int_t)m->nprobe, "rescore_depth",
                          (json_int_t)m->rescore_depth, "vectors_dtype", m->vectors_dtype,
                          "vectors_crc32", (json_int_t)m->vectors_crc32, "removed_count",
                          (json_int_t)m->removed_count, "removed_crc32",
                          (json_int_t)m->removed_crc32, "created", m->created, "index_crc32",
                          (json_int_t)m->index_crc32);
    json_t *meta = json_object(), *pts = json_array();
    for (size_t i = 0; meta && i < m->n_meta; i++)
        json_object_set_new(meta, m->meta[i].key, json_string(m->meta[i].value));
    for (size_t i = 0; o && pts && i < m->n_points; i++) {
        const lr_index_tune *p = &m->points[i];
        json_array_append_new(pts, json_pack("{s:I, s:I, s:I, s:f, s:b}", "k", (json_int_t)p->k, "nprobe",
                                             (json_int_t)p->nprobe, "rescore_depth", (json_int_t)p->depth,
                                             "recall", p->recall, "reached", p->reached));
    }
    if (!o || !meta || !pts || json_object_size(meta) != m->n_meta || json_array_size(pts) != m->n_points ||
        json_object_set_new(o, "metadata", meta) || json_object_set_new(o, "operating_points", pts) ||
        json_object_set_new(o, "tuned_on", json_string(m->tuned_on)) ||
        (m->attrs_count && (json_object_set_new(o, "attributes", json_integer((json_int_t)m->attrs_count)) ||
                            json_object_set_new(o, "attributes_crc32", json_integer((json_int_t)m->attrs_crc32)))) ||
        (m->rows_count && (json_object_set_new(o, "rows", json_integer((json_int_t)m->rows_count)) ||
                           json_object_set_new(o, "rows_crc32", json_integer((json_int_t)m->rows_crc32)))) ||
        (m->reused.from[0] &&
         json_object_set_new(o, "reused", json_pack("{s:s, s:I, s:I, s:b, s:b}", "from", m->reused.from, "vectors",
                                                    (json_int_t)m->reused.vectors, "codes", (json_int_t)m->reused.codes,
                                                    "quantizer", m->reused.quantizer, "points", m->reused.points)))) {
        json_decref(o);
        return lr_err_set(err, LR_ENOMEM, "manifest: out of memory");
    }
    char *body = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    int rc = body ? lr_index_manifest_write_sealed(path, body, err)
                  : lr_err_set(err, LR_ENOMEM, "manifest: out of memory");
    free(body);
    return rc;
}

static void remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[4600];
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    if (d) closedir(d);
    rmdir(dir);
}

/* Deletes versions older than the newest `keep`, never the one `current` points to. Each is
 * renamed to a temporary name first, so that a crash halfway through deleting it leaves debris
 * the next publish clears, never a version directory with files missing. */
static void prune(const char *dir, const char versions[4096], unsigned newest, size_t keep) {
    char cur[4096] = "", link[4200], p[4200], gone[4200];
    snprintf(link, sizeof link, "%s/current", dir);
    ssize_t n = readlink(link, cur, sizeof cur - 1);
    cur[n > 0 ? n : 0] = '\0';
    for (unsigned v = 1; keep && v + keep <= newest; v++) {
        char name[16];
        snprintf(name, sizeof name, "v%06u", v);
        if (strstr(cur, name)) continue;
        snprintf(p, sizeof p, "%s/%s", versions, name);
        snprintf(gone, sizeof gone, "%s/.tmp-pruned-%s", versions, name);
        if (rename(p, gone) == 0) remove_tree(gone);
    }
}

/* Debris of a publish that crashed: temporary version directories and links. Publishing is
 * single-writer, so anything temporary found at the start of a publish is stale. */
static void clean_debris(const char *dir, const char versions[4096]) {
    const char *where[2] = {versions, dir}, *prefix[2] = {".tmp-", ".current.tmp."};
    char p[4600];
    for (int k = 0; k < 2; k++) {
        DIR *d = opendir(where[k]);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (strncmp(e->d_name, prefix[k], strlen(prefix[k])) != 0) continue;
            snprintf(p, sizeof p, "%s/%s", where[k], e->d_name);
            if (k == 0) remove_tree(p);
            else unlink(p);
        }
        if (d) closedir(d);
    }
}

int lr_index_publish(const lr_index *ix, const char *dir, const lr_index_publish_opts *opts,
                     lr_index_manifest *man, lr_err *err) {
    return lr_index_publish_until(ix, dir, opts, 0, man, err);
}

/* The manifest of version v of ix, all but what step 1 learns as it writes the files (their
 * checksums, the re-scoring depth and the removed count). */
static int new_manifest(const lr_index *ix, const lr_index_publish_opts *o, unsigned v,
                        lr_index_manifest *m, lr_err *err) {
    *m = (lr_index_manifest){0};
    m->format = LR_INDEX_MANIFEST_FORMAT;
    snprintf(m->version, sizeof m->version, "v%06u", v);
    m->dim = lr_index_dim(ix);
    m->count = lr_index_count(ix);
    m->nprobe = lr_index_nprobe(ix);
    const lr_index_tune *points = lr_index_points(ix, &m->n_points);
    memcpy(m->points, points, m->n_points * sizeof *points);
    snprintf(m->tuned_on, sizeof m->tuned_on, "%s", o->tuned_on ? o->tuned_on : "");
    snprintf(m->factory, sizeof m->factory, "%s", lr_index_factory(ix));
    int rc = copy_meta(m, o->meta, o->n_meta, err);
    if (rc) return rc;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(m->created, sizeof m->created, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return LR_OK;
}

/* Publish step 1: the version's files into tmp, the manifest last since it holds the others'
 * checksums, then tmp itself synced. Leaves tmp to the caller, also after a failure. */
static int write_version_files(const lr_index *ix, const char *tmp, const lr_index_publish_opts *o,
                               lr_index_manifest *m, lr_err *err) {
    char file[4300];
    snprintf(file, sizeof file, "%s/index.faiss", tmp);
    int rc = lr_index_save(ix, file, err);
    if (!rc) rc = lr_index_file_crc32(file, &m->index_crc32, err);
    m->rescore_depth = lr_index_rescore_depth(ix);
    /* the vectors exact re-scoring reads (memory-mapped when f32), and those the next rebuild
     * reuses */
    if (!rc && (m->rescore_depth || o->vectors)) {
        snprintf(m->vectors_dtype, sizeof m->vectors_dtype, "%s", o->vectors_f16 ? "f16" : "f32");
        snprintf(file, sizeof file, "%s/vectors.npy", tmp);
        const float *v = m->rescore_depth ? lr_data_matrix_data(ix->rs) : o->vectors;
        size_t rows = m->rescore_depth ? lr_data_matrix_rows(ix->rs) : o->n_vectors;
        float *wide = NULL; /* float16 vectors kept mapped (an opened version) are widened to write */
        if (!v && (wide = malloc(rows * ix->dim * sizeof *wide)) == NULL)
            rc = lr_err_set(err, LR_ENOMEM, "publish: out of memory for %zu x %zu vectors", rows, ix->dim);
        for (size_t i = 0; wide && i < rows; i++) lr_data_matrix_row(ix->rs, i, wide + i * ix->dim);
        if (!rc) rc = lr_data_npy_write(file, v ? v : wide, rows, ix->dim, o->vectors_f16 ? LR_NPY_F16 : LR_NPY_F32, err);
        free(wide);
        if (!rc) rc = lr_index_file_crc32(file, &m->vectors_crc32, err);
    }
    m->removed_count = ix->n_tomb;
    if (!rc && ix->n_tomb) { /* ids a fast-scan index still holds but must never return */
        snprintf(file, sizeof file, "%s/removed.txt", tmp);
        FILE *f = fopen(file, "w");
        for (size_t i = 0; f && i < ix->n_tomb; i++) fprintf(f, "%lld\n", (long long)ix->tomb[i]);
        if (!f || fflush(f) != 0 || ferror(f)) rc = lr_err_set(err, LR_EIO, "%s: cannot write: %s", file, strerror(errno));
        if (f && fclose(f) != 0 && !rc) rc = lr_err_set(err, LR_EIO, "%s: cannot write: %s", file, strerror(errno));
        if (!rc) rc = lr_data_sync_path(file, err);
        if (!rc) rc = lr_index_file_crc32(file, &m->removed_crc32, err);
    }
    m->rows_count = ix->rows ? lr_index_rows_count(ix->rows) : 0;
    if (!rc && ix->rows) {
        snprintf(file, sizeof file, "%s/rows.safetensors", tmp);
        rc = lr_index_rows_save(ix->rows, file, err);
        if (!rc) rc = lr_index_file_crc32(file, &m->rows_crc32, err);
    }
    if (o->reused) m->reused = *o->reused;
    m->attrs_count = ix->attrs ? lr_index_attrs_count(ix->attrs) : 0;
    if (!rc && m->attrs_count) { /* item attributes for filters, checked like the rest */
        snprintf(file, sizeof file, "%s/attributes.safetensors", tmp);
        rc = lr_index_attrs_save(ix->attrs, file, err);
        if (!rc) rc = lr_index_file_crc32(file, &m->attrs_crc32, err);
    }
    snprintf(file, sizeof file, "%s/manifest.json", tmp);
    if (!rc) rc = write_manifest(file, m, err);
    if (!rc) rc = lr_data_sync_path(tmp, err);
    return rc;
}

static int publish_locked(const lr_index *ix, const char *dir, const lr_index_publish_opts *opts,
                          int stop_after_step, lr_index_manifest *man, lr_err *err);

int lr_index_publish_until(const lr_index *ix, const char *dir, const lr_index_publish_opts *opts,
                           int stop_after_step, lr_index_manifest *man, lr_err *err) {
    char versions[4096];
    if (strlen(dir) > 3000) return lr_err_set(err, LR_EINVAL, "index directory path is too long");
    snprintf(versions, sizeof versions, "%s/versions", dir);
    if ((mkdir(dir, 0777) != 0 && errno != EEXIST) || (mkdir(versions, 0777) != 0 && errno != EEXIST))
        return lr_err_set(err, LR_EIO, "mkdir(%s): %s", versions, strerror(errno));
    int fd, rc = lr_index_publish_lock(dir, &fd, err);
    if (rc) return rc;
    rc = publish_locked(ix, dir, opts, stop_after_step, man, err);
    lr_index_publish_unlock(fd);
    return rc;
}

static int publish_locked(const lr_index *ix, const char *dir, const lr_index_publish_opts *opts,
                          int stop_after_step, lr_index_manifest *man, lr_err *err) {
    lr_index_publish_opts o = {.keep_versions = 3};
    if (opts) o = *opts;
    /* derived paths get room for what they append to `versions` (at most 4096) */
    char versions[4096], tmp[4200], final[4200];
    snprintf(versions, sizeof versions, "%s/versions", dir);
    clean_debris(dir, versions);
    unsigned v = last_version(versions) + 1;
    lr_index_manifest m;
    int rc = new_manifest(ix, &o, v, &m, err);
    if (rc) return rc;

    /* step 1: the files, in a temporary directory nobody reads */
    snprintf(tmp, sizeof tmp, "%s/.tmp-%s-%ld", versions, m.version, (long)getpid());
    if (mkdir(tmp, 0777) != 0) return lr_err_set(err, LR_EIO, "mkdir(%s): %s", tmp, strerror(errno));
    if ((rc = write_version_files(ix, tmp, &o, &m, err))) {
        remove_tree(tmp);
        return rc;
    }
    if (stop_after_step == 1) return LR_OK;
    /* step 2: the finished version appears under its name */
    snprintf(final, sizeof final, "%s/%s", versions, m.version);
    if (rename(tmp, final) != 0) {
        rc = lr_err_set(err, LR_EIO, "rename(%s, %s): %s", tmp, final, strerror(errno));
        remove_tree(tmp);
        return rc;
    }
    if ((rc = lr_data_sync_path(versions, err))) return rc;
    if (stop_after_step == 2) return LR_OK;
    /* step 3: a new link beside `current`; step 4: one rename swaps what readers open */
    if ((rc = lr_index_swap_current(dir, m.version, stop_after_step == 3, err))) return rc;
    if (stop_after_step == 3 || stop_after_step == 4) return LR_OK;
    prune(dir, versions, v, o.keep_versions);
    if (man) *man = m;
    return LR_OK;
}

int lr_index_file_checksum(const char *path, char out[9], lr_err *err) {
    uint32_t crc;
    int rc = lr_index_file_crc32(path, &crc, err);
    if (!rc) snprintf(out, 9, "%08x", crc);
    return rc;
}
