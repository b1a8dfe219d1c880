/* Opening index versions: manifests read and checked, then every file they list verified and
 * loaded (publish.c writes them). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "index_internal.h"
#include "lr_data.h"

static void current_base(const char *dir, char *base, size_t cap);
static int verify_file(const char *base, const char *name, uint32_t want, char path[4200], lr_err *err);

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
    else if (fmt < 1 || fmt > LR_INDEX_MANIFEST_FORMAT)
        rc = lr_err_set(err, LR_EFORMAT, "%s: manifest format %lld, this learnrec reads 1 to %u", path,
                        (long long)fmt, LR_INDEX_MANIFEST_FORMAT);
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

/* The directory of version (NULL: the one `current` names, read once) into base (4096 bytes),
 * and its manifest. */
static int version_manifest(const char *dir, const char *version, char *base, lr_index_manifest *m, lr_err *err) {
    char path[4200];
    if (strlen(dir) > 3000 || (version && strlen(version) > 64))
        return lr_err_set(err, LR_EINVAL, "index directory path is too long");
    if (version) snprintf(base, 4096, "%s/versions/%s", dir, version);
    else current_base(dir, base, 4096);
    snprintf(path, sizeof path, "%s/manifest.json", base);
    return read_manifest(path, m, err);
}

int lr_index_read_rows(const char *dir, const char *version, lr_index_rows **out, lr_err *err) {
    *out = NULL;
    char base[4096], path[4200];
    if (version && !lr_index_version_name_ok(version))
        return lr_err_set(err, LR_EINVAL, "'%.60s' is not a version name (vNNNNNN)", version);
    lr_index_manifest m;
    int rc = version_manifest(dir, version, base, &m, err);
    if (rc) return rc;
    if (!m.rows_count) return lr_err_set(err, LR_ENOTFOUND, "%s: the version records no rows", base);
    if ((rc = verify_file(base, "rows.safetensors", m.rows_crc32, path, err)) ||
        (rc = lr_index_rows_load(path, out, err)))
        return rc;
    size_t n = lr_index_rows_count(*out);
    if (n != m.rows_count) {
        lr_index_rows_free(*out);
        *out = NULL;
        return lr_err_set(err, LR_EFORMAT, "%s: %zu rows, the manifest says %zu", path, n, m.rows_count);
    }
    return LR_OK;
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

/* base/name's CRC-32 against the manifest's (path gets base/name): damage is LR_EFORMAT naming
 * the file. */
static int verify_file(const char *base, const char *name, uint32_t want, char path[4200], lr_err *err) {
    snprintf(path, 4200, "%s/%s", base, name);
    uint32_t crc;
    int rc = lr_index_file_crc32(path, &crc, err);
    if (!rc && crc != want)
        rc = lr_err_set(err, LR_EFORMAT, "%s: checksum %08x, the manifest says %08x: the file is damaged", path, crc, want);
    return rc;
}

/* The version's attributes.safetensors, checked against the manifest, into ix. */
static int open_attrs(lr_index *ix, const char *base, const lr_index_manifest *m, lr_err *err) {
    char path[4200];
    lr_index_attrs *a = NULL;
    int rc = verify_file(base, "attributes.safetensors", m->attrs_crc32, path, err);
    if (!rc) rc = lr_index_attrs_load(path, &a, err);
    if (!rc && lr_index_attrs_count(a) != m->attrs_count)
        rc = lr_err_set(err, LR_EFORMAT, "%s: %zu attributes, the manifest says %zu", path, lr_index_attrs_count(a),
                        m->attrs_count);
    if (rc) lr_index_attrs_free(a);
    else lr_index_set_attrs(ix, a);
    return rc;
}

/* The ids a fast-scan version marked removed (removed.txt), checked like the index. */
static int open_removed(lr_index *ix, const char *base, const lr_index_manifest *m, lr_err *err) {
    char path[4200];
    FILE *f = NULL;
    int rc = verify_file(base, "removed.txt", m->removed_crc32, path, err);
    if (!rc && !(f = fopen(path, "r"))) rc = lr_err_set(err, LR_EIO, "%s: cannot open", path);
    long long id;
    while (!rc && fscanf(f, "%lld", &id) == 1) {
        int64_t v = (int64_t)id;
        rc = lr_index_tomb_add(ix, 1, &v, NULL, err);
    }
    if (f) fclose(f);
    if (!rc && ix->n_tomb != m->removed_count)
        rc = lr_err_set(err, LR_EFORMAT, "%s: %zu ids, the manifest says %zu", path, ix->n_tomb, m->removed_count);
    return rc;
}

/* The re-scoring vectors (vectors.npy), checked like the index. */
static int open_vectors(lr_index *ix, const char *base, const lr_index_manifest *m, lr_err *err) {
    char path[4200];
    lr_data_matrix *vec = NULL;
    int rc = verify_file(base, "vectors.npy", m->vectors_crc32, path, err);
    /* any row count: a row is an id's, and ids are not 0 .. count-1 once some were removed */
    if (!rc) rc = lr_data_matrix_open_ex(path, 0, LR_DATA_MATRIX_KEEP_F16, &vec, err);
    if (!rc && lr_data_matrix_dim(vec) != m->dim)
        rc = lr_err_set(err, LR_EFORMAT, "%s: %zu-d vectors in a %zu-d index", path, lr_data_matrix_dim(vec), m->dim);
    if (!rc) rc = lr_index_adopt_rescore(ix, vec, m->rescore_depth);
    else lr_data_matrix_free(vec);
    return rc;
}

/* index.faiss, checked against the manifest and loaded. */
static int open_faiss(const char *base, const lr_index_manifest *m, lr_index **out, lr_err *err) {
    char path[4200];
    int rc = verify_file(base, "index.faiss", m->index_crc32, path, err);
    if (rc || (rc = lr_index_load(path, out, err))) return rc;
    if (lr_index_dim(*out) != m->dim || lr_index_count(*out) != m->count) {
        rc = lr_err_set(err, LR_EFORMAT, "%s: holds %zu x %zu, the manifest says %zu x %zu", path,
                        lr_index_count(*out), lr_index_dim(*out), m->count, m->dim);
        lr_index_free(*out);
        *out = NULL;
        return rc;
    }
    lr_index_set_factory_name(*out, m->factory);
    return LR_OK;
}

int lr_index_open(const char *dir, const char *version, size_t expect_dim, const lr_index_kv *expect,
                  size_t n_expect, lr_index **out, lr_index_manifest *man, lr_err *err) {
    *out = NULL;
    char base[4096];
    lr_index_manifest m;
    int rc = version_manifest(dir, version, base, &m, err);
    if (rc) return rc;
    if (expect_dim && m.dim != expect_dim)
        return lr_err_set(err, LR_EMISMATCH, "%s: the index holds %zu-d vectors, expected %zu (a "
                          "different model?)", base, m.dim, expect_dim);
    if ((rc = check_meta(&m, expect, n_expect, base, err))) return rc;
    lr_index *ix;
    if ((rc = open_faiss(base, &m, &ix, err))) return rc;
    if ((m.removed_count && (rc = open_removed(ix, base, &m, err))) ||
        (m.rescore_depth && (rc = open_vectors(ix, base, &m, err))) ||
        (m.attrs_count && (rc = open_attrs(ix, base, &m, err)))) {
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

int lr_index_open_codes(const char *dir, const char *version, lr_index **out, lr_err *err) {
    *out = NULL;
    char base[4096];
    lr_index_manifest m;
    lr_index *ix;
    int rc = version_manifest(dir, version, base, &m, err);
    if (rc || (rc = open_faiss(base, &m, &ix, err))) return rc;
    if ((m.removed_count && (rc = open_removed(ix, base, &m, err))) ||
        (m.nprobe && (rc = lr_index_set_nprobe(ix, m.nprobe, err)))) {
        lr_index_free(ix);
        return rc;
    }
    *out = ix;
    return LR_OK;
}
