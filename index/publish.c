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

/* 2 added the operating points, what they were tuned on, and "metadata" (format 1 had the model
 * and content checksums as fields of their own); 3 the manifest's own checksum, its last member
 * (manifest_seal.c). Formats 1 and 2 still load, unchecked. */
#define MANIFEST_FORMAT 3u

static int file_crc32(const char *path, uint32_t *out, lr_err *err) {
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
    m->format = MANIFEST_FORMAT;
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
    if (!rc) rc = file_crc32(file, &m->index_crc32, err);
    m->rescore_depth = lr_index_rescore_depth(ix);
    /* the vectors exact re-scoring reads (memory-mapped when f32), and those the next rebuild
     * reuses */
    if (!rc && (m->rescore_depth || o->vectors)) {
        snprintf(m->vectors_dtype, sizeof m->vectors_dtype, "%s", o->vectors_f16 ? "f16" : "f32");
        snprintf(file, sizeof file, "%s/vectors.npy", tmp);
        const float *v = m->rescore_depth ? lr_data_matrix_data(ix->rs) : o->vectors;
        size_t rows = m->rescore_depth ? lr_data_matrix_rows(ix->rs) : o->n_vectors;
        rc = lr_data_npy_write(file, v, rows, ix->dim, o->vectors_f16 ? LR_NPY_F16 : LR_NPY_F32, err);
        if (!rc) rc = file_crc32(file, &m->vectors_crc32, err);
    }
    m->removed_count = ix->n_tomb;
    if (!rc && ix->n_tomb) { /* ids a fast-scan index still holds but must never return */
        snprintf(file, sizeof file, "%s/removed.txt", tmp);
        FILE *f = fopen(file, "w");
        for (size_t i = 0; f && i < ix->n_tomb; i++) fprintf(f, "%lld\n", (long long)ix->tomb[i]);
        if (!f || fflush(f) != 0 || ferror(f)) rc = lr_err_set(err, LR_EIO, "%s: cannot write: %s", file, strerror(errno));
        if (f && fclose(f) != 0 && !rc) rc = lr_err_set(err, LR_EIO, "%s: cannot write: %s", file, strerror(errno));
        if (!rc) rc = lr_data_sync_path(file, err);
        if (!rc) rc = file_crc32(file, &m->removed_crc32, err);
    }
    m->rows_count = ix->rows ? lr_index_rows_count(ix->rows) : 0;
    if (!rc && ix->rows) {
        snprintf(file, sizeof file, "%s/rows.safetensors", tmp);
        rc = lr_index_rows_save(ix->rows, file, err);
        if (!rc) rc = file_crc32(file, &m->rows_crc32, err);
    }
    if (o->reused) m->reused = *o->reused;
    m->attrs_count = ix->attrs ? lr_index_attrs_count(ix->attrs) : 0;
    if (!rc && m->attrs_count) { /* item attributes for filters, checked like the rest */
        snprintf(file, sizeof file, "%s/attributes.safetensors", tmp);
        rc = lr_index_attrs_save(ix->attrs, file, err);
        if (!rc) rc = file_crc32(file, &m->attrs_crc32, err);
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

/* Format 2's "metadata" object of strings; format 1 had the model's and the content's checksums
 * as fields of their own ("" for none), read as the keys "model" and "content". */
static int read_meta(json_t *o, const char *path, lr_index_manifest *m, lr_err *err) {
    if (m->format == 1) {
        const char *names[2] = {"model_checksum", "content_checksum"}, *keys[2] = {"model", "content"};
        for (int i = 0; i < 2; i++) {
            const char *v = json_string_value(json_object_get(o, names[i]));
            if (!v) return lr_err_set(err, LR_EFORMAT, "%s: expected a string '%s'", path, names[i]);
            if (!v[0]) continue;
            snprintf(m->meta[m->n_meta].key, sizeof m->meta[0].key, "%s", keys[i]);
            snprintf(m->meta[m->n_meta++].value, sizeof m->meta[0].value, "%s", v);
        }
        return LR_OK;
    }
    json_t *meta = json_object_get(o, "metadata"), *v;
    const char *key;
    if (!json_is_object(meta) || json_object_size(meta) > LR_INDEX_MAX_META)
        return lr_err_set(err, LR_EFORMAT, "%s: metadata: expected an object of at most %d strings", path,
                          LR_INDEX_MAX_META);
    json_object_foreach(meta, key, v) {
        if (!json_is_string(v) || strlen(key) >= sizeof m->meta[0].key ||
            json_string_length(v) >= sizeof m->meta[0].value)
            return lr_err_set(err, LR_EFORMAT, "%s: metadata '%.40s': expected a string of at most %zu bytes "
                              "under a key of at most %zu", path, key, sizeof m->meta[0].value - 1,
                              sizeof m->meta[0].key - 1);
        snprintf(m->meta[m->n_meta].key, sizeof m->meta[0].key, "%s", key);
        snprintf(m->meta[m->n_meta++].value, sizeof m->meta[0].value, "%s", json_string_value(v));
    }
    return LR_OK;
}

/* The operating points of a format-2 manifest (none in format 1). */
static int read_points(json_t *o, const char *path, lr_index_manifest *m, lr_err *err) {
    json_t *pts = json_object_get(o, "operating_points"), *p;
    const char *tuned_on = json_string_value(json_object_get(o, "tuned_on"));
    snprintf(m->tuned_on, sizeof m->tuned_on, "%s", tuned_on ? tuned_on : "");
    if (!pts) return LR_OK;
    if (!json_is_array(pts) || json_array_size(pts) > LR_INDEX_MAX_POINTS)
        return lr_err_set(err, LR_EFORMAT, "%s: operating_points: expected an array of at most %d",
                          path, LR_INDEX_MAX_POINTS);
    size_t i;
    json_array_foreach(pts, i, p) {
        json_int_t k = 0, nprobe = 0, depth = 0;
        double recall = 0;
        int reached = 0;
        json_error_t je;
        if (json_unpack_ex(p, &je, 0, "{s:I, s:I, s:I, s:F, s:b}", "k", &k, "nprobe", &nprobe,
                           "rescore_depth", &depth, "recall", &recall, "reached", &reached) ||
            k <= 0 || nprobe <= 0 || depth < 0 || !(recall >= 0 && recall <= 1))
            return lr_err_set(err, LR_EFORMAT, "%s: operating point %zu: expected k >= 1, nprobe >= 1, "
                              "rescore_depth >= 0 and a recall in [0, 1]", path, i);
        m->points[i] = (lr_index_tune){(size_t)k, (size_t)nprobe, (size_t)depth, recall, reached};
    }
    m->n_points = json_array_size(pts);
    return LR_OK;
}

/* "rows" and "rows_crc32", both or neither; "reused" when the version says what it kept. */
static int read_rows_entry(json_t *o, const char *path, lr_index_manifest *m, lr_err *err) {
    const json_t *n = json_object_get(o, "rows"), *c = json_object_get(o, "rows_crc32");
    json_t *r = json_object_get(o, "reused");
    if (n || c) {
        if (!json_is_integer(n) || !json_is_integer(c) || json_integer_value(n) < 1 || json_integer_value(c) < 0 ||
            json_integer_value(c) > 0xffffffffLL)
            return lr_err_set(err, LR_EFORMAT, "%s: \"rows\" must be a count with \"rows_crc32\" a checksum", path);
        m->rows_count = (size_t)json_integer_value(n);
        m->rows_crc32 = (uint32_t)json_integer_value(c);
    }
    if (!r) return LR_OK;
    const char *from = NULL;
    json_int_t vec = 0, codes = 0;
    int q = 0, p = 0;
    if (json_unpack(r, "{s:s, s:I, s:I, s:b, s:b}", "from", &from, "vectors", &vec, "codes", &codes, "quantizer", &q,
                    "points", &p) ||
        vec < 0 || codes < 0 || strlen(from) >= sizeof m->reused.from)
        return lr_err_set(err, LR_EFORMAT, "%s: \"reused\" is not {from, vectors, codes, quantizer, points}", path);
    snprintf(m->reused.from, sizeof m->reused.from, "%s", from);
    m->reused.vectors = (size_t)vec, m->reused.codes = (size_t)codes, m->reused.quantizer = q, m->reused.points = p;
    return LR_OK;
}

/* "attributes" and "attributes_crc32", both or neither (versions before attributes). */
static int read_attrs_entry(json_t *o, const char *path, lr_index_manifest *m, lr_err *err) {
    const json_t *n = json_object_get(o, "attributes"), *c = json_object_get(o, "attributes_crc32");
    if (!n && !c) return LR_OK;
    if (!json_is_integer(n) || !json_is_integer(c) || json_integer_value(n) < 1 ||
        json_integer_value(n) > LR_INDEX_MAX_ATTRS || json_integer_value(c) < 0 || json_integer_value(c) > 0xffffffffLL)
        return lr_err_set(err, LR_EFORMAT, "%s: \"attributes\" must be 1 to %d with \"attributes_crc32\" a "
                          "checksum", path, LR_INDEX_MAX_ATTRS);
    m->attrs_count = (size_t)json_integer_value(n);
    m->attrs_crc32 = (uint32_t)json_integer_value(c);
    return LR_OK;
}

static int read_manifest(const char *path, lr_index_manifest *m, lr_err *err) {
    json_error_t je;
    char *text;
    size_t len;
    int sealed, rc = lr_index_manifest_read_sealed(path, &text, &len, &sealed, err);
    if (rc) return rc;
    json_t *o = json_loadb(text, len, 0, &je);
    free(text);
    if (!o && je.line > 0)
        return lr_err_set(err, LR_EFORMAT, "%s:%d: %s", path, je.line, je.text);
    if (!o) return lr_err_set(err, LR_EFORMAT, "%s: %s", path, je.text);
    json_int_t fmt = 0, dim = 0, count = 0, nprobe = 0, crc = 0, depth = 0, vcrc = 0, nrem = 0, rcrc = 0;
    const char *version = NULL, *factory = NULL, *created = NULL, *vtype = NULL;
    int bad = json_unpack_ex(o, &je, 0, "{s:I, s:s, s:I, s:I, s:s, s:I, s:I, s:s, s:I, s:I, s:I, s:s, s:I}",
                             "format_version", &fmt, "version", &version, "dim", &dim, "count",
                             &count, "factory", &factory, "nprobe", &nprobe, "rescore_depth", &depth,
                             "vectors_dtype", &vtype, "vectors_crc32", &vcrc, "removed_count", &nrem,
                             "removed_crc32", &rcrc, "created", &created, "index_crc32", &crc);
    if (bad) rc = lr_err_set(err, LR_EFORMAT, "%s: %s", path, je.text);
    else if (fmt < 1 || fmt > MANIFEST_FORMAT)
        rc = lr_err_set(err, LR_EFORMAT, "%s: manifest format %lld, this learnrec reads 1 to %u", path,
                        (long long)fmt, MANIFEST_FORMAT);
    else if (fmt >= 3 && !sealed) /* the checksum's own key was damaged */
        rc = lr_err_set(err, LR_EFORMAT, "%s: a format %lld manifest without its checksum: the file is "
                        "damaged", path, (long long)fmt);
    else if (dim <= 0 || count < 0 || nprobe < 0 || crc < 0 || crc > 0xffffffffLL || depth < 0 ||
             vcrc < 0 || vcrc > 0xffffffffLL || nrem < 0 || rcrc < 0 || rcrc > 0xffffffffLL)
        rc = lr_err_set(err, LR_EFORMAT, "%s: implausible dim, count, nprobe or checksum", path);
    else if (depth > LR_INDEX_MAX_RESCORE_DEPTH) /* every search would hold that many candidates */
        rc = lr_err_set(err, LR_EFORMAT, "%s: rescore_depth %lld is above %d", path, (long long)depth,
                        LR_INDEX_MAX_RESCORE_DEPTH);
    if (!rc) {
        *m = (lr_index_manifest){0};
        m->format = (unsigned)fmt;
        m->dim = (size_t)dim;
        m->count = (size_t)count;
        m->nprobe = (size_t)nprobe;
        m->index_crc32 = (uint32_t)crc;
        m->rescore_depth = (size_t)depth;
        m->vectors_crc32 = (uint32_t)vcrc;
        m->removed_count = (size_t)nrem;
        m->removed_crc32 = (uint32_t)rcrc;
        snprintf(m->vectors_dtype, sizeof m->vectors_dtype, "%s", vtype);
        snprintf(m->version, sizeof m->version, "%s", version);
        snprintf(m->factory, sizeof m->factory, "%s", factory);
        snprintf(m->created, sizeof m->created, "%s", created);
        rc = read_meta(o, path, m, err);
        if (!rc) rc = read_points(o, path, m, err);
        if (!rc) rc = read_attrs_entry(o, path, m, err);
        if (!rc) rc = read_rows_entry(o, path, m, err);
    }
    json_decref(o);
    return rc;
}

int lr_index_read_manifest(const char *dir, const char *version, lr_index_manifest *man, lr_err *err) {
    char path[4200];
    if (strlen(dir) > 3000) return lr_err_set(err, LR_EINVAL, "index directory path is too long");
    if (version && !lr_index_version_name_ok(version))
        return lr_err_set(err, LR_EINVAL, "'%s' is not a version name (vNNNNNN)", version);
    if (version) snprintf(path, sizeof path, "%s/versions/%s/manifest.json", dir, version);
    else snprintf(path, sizeof path, "%s/current/manifest.json", dir);
    return read_manifest(path, man, err);
}

static void current_base(const char *dir, char *base, size_t cap);

int lr_index_read_rows(const char *dir, const char *version, lr_index_rows **out, lr_err *err) {
    *out = NULL;
    char base[4096], path[4200];
    if (strlen(dir) > 3000 || (version && !lr_index_version_name_ok(version)))
        return lr_err_set(err, LR_EINVAL, "index directory path too long, or not a version name");
    if (version) snprintf(base, sizeof base, "%s/versions/%s", dir, version);
    else current_base(dir, base, sizeof base);
    lr_index_manifest m;
    snprintf(path, sizeof path, "%s/manifest.json", base);
    int rc = read_manifest(path, &m, err);
    if (rc) return rc;
    if (!m.rows_count) return lr_err_set(err, LR_ENOTFOUND, "%s: the version records no rows", base);
    snprintf(path, sizeof path, "%s/rows.safetensors", base);
    uint32_t crc;
    if ((rc = file_crc32(path, &crc, err))) return rc;
    if (crc != m.rows_crc32)
        return lr_err_set(err, LR_EFORMAT, "%s: checksum %08x, the manifest says %08x: the file is damaged", path, crc,
                          m.rows_crc32);
    if ((rc = lr_index_rows_load(path, out, err))) return rc;
    size_t n = lr_index_rows_count(*out);
    if (n != m.rows_count) {
        lr_index_rows_free(*out);
        *out = NULL;
        return lr_err_set(err, LR_EFORMAT, "%s: %zu rows, the manifest says %zu", path, n, m.rows_count);
    }
    return LR_OK;
}

int lr_index_file_checksum(const char *path, char out[9], lr_err *err) {
    uint32_t crc;
    int rc = file_crc32(path, &crc, err);
    if (!rc) snprintf(out, 9, "%08x", crc);
    return rc;
}

/* Each expected key-value against the manifest's. */
static int check_meta(const lr_index_manifest *m, const lr_index_kv *expect, size_t n, const char *base,
                      lr_err *err) {
    for (size_t i = 0; expect && i < n; i++) {
        const char *have = lr_index_manifest_meta(m, expect[i].key);
        if (!have || strcmp(have, expect[i].value) != 0)
            return lr_err_set(err, LR_EMISMATCH, "%s: built for %s %s, not %s; rebuild the index", base,
                              expect[i].key, have ? have : "(none)", expect[i].value);
    }
    return LR_OK;
}

/* dir/versions/vNNNNNN as `current` names it, read once, into base: every file of the version is
 * then opened under that name, so that a publish swapping `current` meanwhile cannot pair one
 * version's manifest with another's files. dir/current itself when the link names no version
 * (or is missing: the error then names dir/current). */
static void current_base(const char *dir, char *base, size_t cap) {
    char link[4096], target[32];
    snprintf(link, sizeof link, "%.3000s/current", dir); /* the caller checked: at most 3000 bytes */
    ssize_t n = readlink(link, target, sizeof target - 1);
    int ok = n == 16 && strncmp(target, "versions/v", 10) == 0;
    for (ssize_t i = 10; ok && i < n; i++) ok = target[i] >= '0' && target[i] <= '9';
    if (ok) snprintf(base, cap, "%s/%.16s", dir, target);
    else snprintf(base, cap, "%s", link);
}

/* The version's attributes.safetensors, checked against the manifest, into ix. */
static int open_attrs(lr_index *ix, const char *base, const lr_index_manifest *m, lr_err *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/attributes.safetensors", base);
    uint32_t crc;
    lr_index_attrs *a = NULL;
    int rc = file_crc32(path, &crc, err);
    if (!rc && crc != m->attrs_crc32)
        rc = lr_err_set(err, LR_EFORMAT, "%s: checksum %08x, the manifest says %08x: the file is damaged", path,
                        crc, m->attrs_crc32);
    if (!rc) rc = lr_index_attrs_load(path, &a, err);
    if (!rc && lr_index_attrs_count(a) != m->attrs_count)
        rc = lr_err_set(err, LR_EFORMAT, "%s: %zu attributes, the manifest says %zu", path, lr_index_attrs_count(a),
                        m->attrs_count);
    if (rc) lr_index_attrs_free(a);
    else lr_index_set_attrs(ix, a);
    return rc;
}

int lr_index_open(const char *dir, const char *version, size_t expect_dim, const lr_index_kv *expect,
                  size_t n_expect, lr_index **out, lr_index_manifest *man, lr_err *err) {
    *out = NULL;
    char base[4096], path[4200];
    if (strlen(dir) > 3000 || (version && strlen(version) > 64))
        return lr_err_set(err, LR_EINVAL, "index directory path is too long");
    if (version) snprintf(base, sizeof base, "%s/versions/%s", dir, version);
    else current_base(dir, base, sizeof base);
    lr_index_manifest m;
    snprintf(path, sizeof path, "%s/manifest.json", base);
    int rc = read_manifest(path, &m, err);
    if (rc) return rc;
    if (expect_dim && m.dim != expect_dim)
        return lr_err_set(err, LR_EMISMATCH, "%s: the index holds %zu-d vectors, expected %zu (a "
                          "different model?)", base, m.dim, expect_dim);
    if ((rc = check_meta(&m, expect, n_expect, base, err))) return rc;
    snprintf(path, sizeof path, "%s/index.faiss", base);
    uint32_t crc;
    if ((rc = file_crc32(path, &crc, err))) return rc;
    if (crc != m.index_crc32)
        return lr_err_set(err, LR_EFORMAT, "%s: checksum %08x, the manifest says %08x: the file is "
                          "damaged", path, crc, m.index_crc32);
    lr_index *ix;
    if ((rc = lr_index_load(path, &ix, err))) return rc;
    if (lr_index_dim(ix) != m.dim || lr_index_count(ix) != m.count) {
        rc = lr_err_set(err, LR_EFORMAT, "%s: holds %zu x %zu, the manifest says %zu x %zu", path,
                        lr_index_count(ix), lr_index_dim(ix), m.count, m.dim);
        lr_index_free(ix);
        return rc;
    }
    lr_index_set_factory_name(ix, m.factory);
    if (m.removed_count) { /* ids marked removed, checked like the index */
        snprintf(path, sizeof path, "%s/removed.txt", base);
        FILE *f = NULL;
        if (!(rc = file_crc32(path, &crc, err)) && crc != m.removed_crc32)
            rc = lr_err_set(err, LR_EFORMAT, "%s: checksum %08x, the manifest says %08x: the file is "
                            "damaged", path, crc, m.removed_crc32);
        if (!rc && !(f = fopen(path, "r"))) rc = lr_err_set(err, LR_EIO, "%s: cannot open", path);
        long long id;
        while (!rc && fscanf(f, "%lld", &id) == 1) {
            int64_t v = (int64_t)id;
            rc = lr_index_tomb_add(ix, 1, &v, NULL, err);
        }
        if (f) fclose(f);
        if (!rc && ix->n_tomb != m.removed_count)
            rc = lr_err_set(err, LR_EFORMAT, "%s: %zu ids, the manifest says %zu", path, ix->n_tomb,
                            m.removed_count);
        if (rc) {
            lr_index_free(ix);
            return rc;
        }
    }
    if (m.rescore_depth) { /* the re-scoring vectors, checked like the index */
        snprintf(path, sizeof path, "%s/vectors.npy", base);
        lr_data_matrix *vec = NULL;
        if (!(rc = file_crc32(path, &crc, err)) && crc != m.vectors_crc32)
            rc = lr_err_set(err, LR_EFORMAT, "%s: checksum %08x, the manifest says %08x: the file is "
                            "damaged", path, crc, m.vectors_crc32);
        /* any row count: a row is an id's, and ids are not 0 .. count-1 once some were removed */
        if (!rc) rc = lr_data_matrix_open(path, 0, &vec, err);
        if (!rc && lr_data_matrix_dim(vec) != m.dim)
            rc = lr_err_set(err, LR_EFORMAT, "%s: %zu-d vectors in a %zu-d index", path,
                            lr_data_matrix_dim(vec), m.dim);
        if (!rc) rc = lr_index_adopt_rescore(ix, vec, m.rescore_depth);
        else lr_data_matrix_free(vec);
        if (rc) {
            lr_index_free(ix);
            return rc;
        }
    }
    if (m.attrs_count && (rc = open_attrs(ix, base, &m, err))) {
        lr_index_free(ix);
        return rc;
    }
    if ((m.nprobe && (rc = lr_index_set_nprobe(ix, m.nprobe, err))) ||
        (m.n_points && (rc = lr_index_set_points(ix, m.points, m.n_points, err)))) {
        lr_err_prefix(err, "%s: ", base);
        lr_index_free(ix);
        return rc;
    }
    if (man) *man = m;
    *out = ix;
    return LR_OK;
}
