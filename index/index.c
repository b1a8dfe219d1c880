/* The index over item embeddings: a FAISS index (IVF with 8-bit scalar codes by default) through the C API. */
#define _GNU_SOURCE /* fopencookie */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/Clustering_c.h>
#include <faiss/c_api/IndexIVF_c.h>
#include <faiss/c_api/IndexFlat_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/impl/AuxIndexStructures_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>

#include "faiss_shim.h"
#include "index_internal.h"

#define ADD_BATCH 65536 /* vectors per add call: bounds FAISS's temporary buffers */

int lr_index_faiss_fail(lr_err *err, const char *what) {
    const char *m = faiss_get_last_error();
    return lr_err_set(err, LR_EFAISS, "%s: %s", what, m && *m ? m : "FAISS reported an error");
}

void lr_index_default_factory(size_t n, size_t dim, char *buf, size_t cap) {
    (void)dim; /* scalar codes take any dimension; kept for factories that depend on it */
    if (n < 1000) {
        snprintf(buf, cap, "Flat");
        return;
    }
    size_t nlist = (size_t)(4.0 * sqrt((double)n));
    if (nlist > n / 39) nlist = n / 39;
    if (nlist < 1) nlist = 1;
    /* 8-bit scalar codes (dim bytes a vector): measured against 4-bit fast-scan PQ (D/2 and D
     * sub-quantizers) and 8-bit PQ on 1M clustered vectors and on towers' outputs, SQ8 reaches
     * recall@100 0.95 without re-scoring, so it is both faster and smaller than PQ plus the
     * vectors PQ needs for re-scoring (docs/benchmarks.md); it also supports removal. */
    snprintf(buf, cap, "IVF%zu,SQ8", nlist);
}

int lr_index_default_vectors_f16(size_t n, size_t dim) {
    return (double)n * (double)dim * 4.0 >= LR_INDEX_F16_VECTORS_BYTES;
}

/* Flat and other non-IVF indexes number vectors themselves: IDMap carries our ids. */
static int needs_idmap(const char *factory) {
    return strncmp(factory, "IVF", 3) != 0 && strncmp(factory, "IDMap", 5) != 0;
}

static int add_batches(FaissIndex *ix, size_t n, size_t dim, const float *x, const int64_t *ids,
                       int64_t first_id, lr_err *err) {
    int64_t *seq = NULL;
    if (!ids && !(seq = malloc((n < ADD_BATCH ? n : ADD_BATCH) * sizeof *seq)))
        return lr_err_set(err, LR_ENOMEM, "index: out of memory");
    int rc = LR_OK;
    for (size_t s = 0; s < n; s += ADD_BATCH) {
        size_t m = n - s < ADD_BATCH ? n - s : ADD_BATCH;
        const int64_t *bid = ids ? ids + s : seq;
        for (size_t i = 0; !ids && i < m; i++) seq[i] = first_id + (int64_t)(s + i);
        if (faiss_Index_add_with_ids(ix, (idx_t)m, x + s * dim, (const idx_t *)bid)) {
            rc = lr_index_faiss_fail(err, "adding vectors");
            break;
        }
    }
    free(seq);
    return rc;
}

/* Trains an IVF index's lists with fewer k-means rounds than FAISS's own training would run (its 25
 * tripled the 1M build for no measured recall: docs/benchmarks.md); the
 * IVF's train() then sees a full quantizer, skips its k-means and trains only the codes. */
static int train_coarse(FaissIndex *index, size_t dim, size_t nlist, size_t m, const float *x, size_t rounds,
                        lr_err *err) {
    FaissIndexIVF *ivf = faiss_IndexIVF_cast(index);
    if (!ivf) return LR_OK; /* not a plain IVF (e.g. a transform in front): FAISS trains it all */
    FaissIndex *quantizer = faiss_IndexIVF_quantizer(ivf);
    if (faiss_Index_ntotal(quantizer) == (idx_t)nlist) return LR_OK;
    FaissClusteringParameters cp;
    faiss_ClusteringParameters_init(&cp);
    cp.niter = (int)rounds;
    cp.min_points_per_centroid = 1; /* the sample's size is the caller's choice: no warning from FAISS */
    cp.spherical = 1; /* as FAISS does for inner product: unit-length centroids */
    FaissClustering *km = NULL;
    int rc = LR_OK;
    if (faiss_Clustering_new_with_params(&km, (int)dim, (int)nlist, &cp) ||
        faiss_Clustering_train(km, (idx_t)m, x, quantizer))
        rc = lr_index_faiss_fail(err, "index: training the inverted lists failed");
    faiss_Clustering_free(km);
    return rc;
}

int lr_index_build(const float *x, size_t n, size_t dim, const int64_t *ids, const char *factory,
                   lr_index **out, lr_err *err) {
    return lr_index_build_ex(x, n, dim, ids, factory, NULL, out, err);
}

int lr_index_build_ex(const float *x, size_t n, size_t dim, const int64_t *ids, const char *factory,
                      const lr_index_train_opts *train, lr_index **out, lr_err *err) {
    size_t per_list = train && train->samples_per_list ? train->samples_per_list : LR_INDEX_SAMPLES_PER_LIST;
    size_t rounds = train && train->kmeans_rounds ? train->kmeans_rounds : LR_INDEX_KMEANS_ROUNDS;
    *out = NULL;
    if (n == 0 || dim == 0 || dim > 65536)
        return lr_err_set(err, LR_EINVAL, "index: %zu vectors of dimension %zu cannot be indexed", n, dim);
    for (size_t i = 0; i < n * dim; i++)
        if (!isfinite(x[i]))
            return lr_err_set(err, LR_EINVAL, "index: vector %zu has a NaN or Inf value", i / dim);
    lr_index *ix = calloc(1, sizeof *ix);
    float *sample = NULL;
    if (!ix) return lr_err_set(err, LR_ENOMEM, "index: out of memory");
    ix->dim = dim;
    if (factory) snprintf(ix->factory, sizeof ix->factory, "%s", factory);
    else lr_index_default_factory(n, dim, ix->factory, sizeof ix->factory);
    char full[200];
    snprintf(full, sizeof full, "%s%s", needs_idmap(ix->factory) ? "IDMap," : "", ix->factory);
    int rc = LR_OK;
    if (faiss_index_factory(&ix->ix, (int)dim, full, METRIC_INNER_PRODUCT)) {
        rc = lr_index_faiss_fail(err, "index: the factory string was refused");
        lr_err_prefix(err, "'%s': ", ix->factory);
        goto done;
    }
    if (!faiss_Index_is_trained(ix->ix)) {
        /* a sample of at most per_list vectors per list, evenly strided over the catalogue */
        size_t nlist = lr_index_nlist(ix);
        size_t want = nlist ? per_list * nlist : n, m = want < n ? want : n, stride = n / m;
        if (m < n && !(sample = malloc(m * dim * sizeof *sample))) {
            rc = lr_err_set(err, LR_ENOMEM, "index: out of memory for a training sample");
            goto done;
        }
        for (size_t i = 0; sample && i < m; i++) memcpy(sample + i * dim, x + i * stride * dim, dim * sizeof *x);
        if (nlist > 1 && (rc = train_coarse(ix->ix, dim, nlist, m, sample ? sample : x, rounds, err))) goto done;
        if (faiss_Index_train(ix->ix, (idx_t)m, sample ? sample : x)) {
            rc = lr_index_faiss_fail(err, "index: training failed");
            goto done;
        }
    }
    if ((rc = add_batches(ix->ix, n, dim, x, ids, 0, err))) goto done;
    if (strncmp(ix->factory, "IVF", 3) == 0) rc = lr_index_set_nprobe(ix, 16, err);
done:
    free(sample);
    if (rc) {
        lr_index_free(ix);
        return rc;
    }
    *out = ix;
    return LR_OK;
}

size_t lr_index_nlist(const lr_index *ix) {
    size_t nlist = 0;
    return sscanf(ix->factory, "IVF%zu", &nlist) == 1 ? nlist : 0;
}

int lr_index_set_nprobe(lr_index *ix, size_t nprobe, lr_err *err) {
    size_t nlist = lr_index_nlist(ix);
    if (!nlist && ix->factory[0])
        return lr_err_set(err, LR_EUNSUPPORTED, "index '%s' is not an IVF index: nprobe does not apply",
                          ix->factory);
    if (nprobe < 1) return lr_err_set(err, LR_EINVAL, "nprobe must be at least 1");
    if (nlist && nprobe > nlist) nprobe = nlist;
    FaissParameterSpace *ps = NULL;
    int bad = faiss_ParameterSpace_new(&ps) ||
              faiss_ParameterSpace_set_index_parameter(ps, ix->ix, "nprobe", (double)nprobe) ||
              (lr_faiss_coarse_is_graph(ix->ix) && /* FAISS's own search reads the graph's field */
               faiss_ParameterSpace_set_index_parameter(ps, ix->ix, "quantizer_efSearch",
                                                        (double)lr_faiss_coarse_ef(nprobe)));
    int rc = bad ? lr_index_faiss_fail(err, "setting nprobe") : LR_OK;
    faiss_ParameterSpace_free(ps);
    if (!rc) ix->nprobe = nprobe;
    return rc;
}

size_t lr_index_nprobe(const lr_index *ix) { return ix->nprobe; }

int lr_index_plain_search(const lr_index *ix, size_t nq, const float *q, size_t k, size_t nprobe,
                          int64_t *ids, float *scores, lr_err *err) {
    if (lr_index_sq8_scannable(ix)) /* faster than FAISS's scan of these codes: sq8_scan.c */
        return lr_index_sq8_search(ix, nq, q, k, nprobe, NULL, NULL, 1.0, ids, scores, err);
    if (nprobe && nprobe != ix->nprobe) return lr_index_probe_search(ix, nq, q, k, nprobe, ids, scores, err);
    if (faiss_Index_search(ix->ix, (idx_t)nq, q, (idx_t)k, scores, (idx_t *)ids))
        return lr_index_faiss_fail(err, "search");
    for (size_t i = 0; i < nq * k; i++)
        if (ids[i] < 0) scores[i] = -INFINITY;
    return LR_OK;
}

int lr_index_search(const lr_index *ix, size_t nq, const float *q, size_t k, int64_t *ids,
                    float *scores, lr_err *err) {
    return lr_index_search_nprobe(ix, nq, q, k, 0, ids, scores, err);
}

int lr_index_unfiltered_search(const lr_index *ix, size_t nq, const float *q, size_t k, size_t nprobe,
                               size_t depth, int64_t *ids, float *scores, lr_err *err) {
    if (ix->rs && depth) return lr_index_rescored_search(ix, nq, q, k, nprobe, depth, ids, scores, err);
    return lr_index_plain_search(ix, nq, q, k, nprobe, ids, scores, err);
}

int lr_index_search_prepare(const lr_index *ix, size_t nq, const float *q, size_t k, size_t *nprobe,
                            size_t *depth, lr_err *err) {
    if (k == 0) return lr_err_set(err, LR_EINVAL, "search: k must be at least 1");
    for (size_t i = 0; i < nq * ix->dim; i++)
        if (!isfinite(q[i]))
            return lr_err_set(err, LR_EINVAL, "search: query %zu has a NaN or Inf value", i / ix->dim);
    *depth = ix->rs_depth;
    if (ix->n_points) { /* the operating point for k: the first that serves k, else the deepest */
        const lr_index_tune *p = &ix->points[ix->n_points - 1];
        for (size_t i = 0; i < ix->n_points; i++)
            if (ix->points[i].k >= k) {
                p = &ix->points[i];
                break;
            }
        *depth = p->depth;
        if (!*nprobe && lr_index_takes_call_nprobe(ix)) *nprobe = p->nprobe;
    }
    return LR_OK;
}

int lr_index_search_nprobe(const lr_index *ix, size_t nq, const float *q, size_t k, size_t nprobe,
                           int64_t *ids, float *scores, lr_err *err) {
    size_t depth;
    int rc = lr_index_search_prepare(ix, nq, q, k, &nprobe, &depth, err);
    if (rc) return rc;
    if (ix->n_tomb) return lr_index_filtered_search(ix, nq, q, k, nprobe, depth, ids, scores, err);
    return lr_index_unfiltered_search(ix, nq, q, k, nprobe, depth, ids, scores, err);
}

int lr_index_add(lr_index *ix, size_t n, const float *x, const int64_t *ids, lr_err *err) {
    if (!ids) return lr_err_set(err, LR_EINVAL, "add: ids are required");
    for (size_t i = 0; i < n; i++)
        if (lr_index_tomb_has(ix, ids[i]))
            return lr_err_set(err, LR_EINVAL, "add: id %lld was removed from this fast-scan index, "
                              "whose old vector stays until a rebuild; rebuild to reuse the id",
                              (long long)ids[i]);
    for (size_t i = 0; i < n * ix->dim; i++)
        if (!isfinite(x[i]))
            return lr_err_set(err, LR_EINVAL, "add: vector %zu has a NaN or Inf value", i / ix->dim);
    int rc = add_batches(ix->ix, n, ix->dim, x, ids, 0, err);
    return rc;
}

int lr_index_remove(lr_index *ix, size_t n, const int64_t *ids, size_t *removed, lr_err *err) {
    /* FAISS 1.7.3's fast-scan inverted lists throw "not implemented" from inside an OpenMP
     * region on removal, which terminates the process instead of reaching the C API's catch. */
    if (strstr(ix->factory, "fs") || !ix->factory[0]) /* so they are marked and skipped */
        return lr_index_tomb_add(ix, n, ids, removed, err);
    FaissIDSelectorBatch *sel = NULL;
    size_t got = 0;
    int rc = LR_OK;
    if (faiss_IDSelectorBatch_new(&sel, n, (const idx_t *)ids) ||
        faiss_Index_remove_ids(ix->ix, (const FaissIDSelector *)sel, &got))
        rc = lr_index_faiss_fail(err, "remove");
    faiss_IDSelector_free((FaissIDSelector *)sel);
    if (removed) *removed = rc ? 0 : got;
    return rc;
}

typedef struct {
    const FaissIndex *ix;
    const char *path; /* for messages: the name the caller knows */
} faiss_file;

/* The file FAISS writes into: a stdio stream over our own write(2), which keeps the first error.
 * FAISS's own file writer ignores a failed fclose (it prints to stderr), so the last buffer lost
 * on a full disk went unnoticed and a truncated index was published; and its message on a failed
 * write is too long for an lr_err to keep the cause. */
typedef struct {
    int fd, err; /* err: errno of the first failed write or close, 0 while none */
} sink;

static ssize_t sink_write(void *cookie, const char *buf, size_t n) {
    sink *s = cookie;
    for (size_t done = 0; done < n;) {
        ssize_t w = write(s->fd, buf + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            s->err = w < 0 ? errno : EIO;
            return done ? (ssize_t)done : -1;
        }
        done += (size_t)w;
    }
    return (ssize_t)n;
}

static int sink_close(void *cookie) {
    sink *s = cookie;
    if (close(s->fd) != 0 && !s->err) s->err = errno;
    return s->err ? -1 : 0;
}

static int write_faiss(const char *tmp, void *ctx, lr_err *err) {
    const faiss_file *f = ctx;
    sink s = {open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666), 0};
    if (s.fd < 0) return lr_err_set(err, LR_EIO, "%s: cannot create: %s", f->path, strerror(errno));
    FILE *out = fopencookie(&s, "w", (cookie_io_functions_t){.write = sink_write, .close = sink_close});
    if (!out) {
        close(s.fd);
        return lr_err_set(err, LR_ENOMEM, "%s: out of memory", f->path);
    }
    int rc = faiss_write_index(f->ix, out) ? lr_index_faiss_fail(err, "writing the index") : LR_OK;
    if (fclose(out) != 0 && !s.err) s.err = EIO; /* the last buffer, flushed here, failed */
    if (s.err) return lr_err_set(err, LR_EIO, "%s: write failed: %s", f->path, strerror(s.err));
    return rc ? lr_err_prefix(err, "%s: ", f->path) : LR_OK;
}

int lr_index_save(const lr_index *ix, const char *path, lr_err *err) {
    faiss_file f = {ix->ix, path};
    return lr_data_write_aside(path, write_faiss, &f, err);
}

int lr_index_load(const char *path, lr_index **out, lr_err *err) {
    *out = NULL;
    if (access(path, R_OK) != 0)
        return lr_err_set(err, errno == ENOENT ? LR_ENOTFOUND : LR_EIO, "%s: cannot open: %s", path,
                          strerror(errno));
    lr_index *ix = calloc(1, sizeof *ix);
    if (!ix) return lr_err_set(err, LR_ENOMEM, "index: out of memory");
    if (faiss_read_index_fname(path, 0, &ix->ix)) {
        int rc = lr_index_faiss_fail(err, "reading the index");
        lr_err_prefix(err, "%s: ", path);
        free(ix);
        return rc;
    }
    ix->dim = (size_t)faiss_Index_d(ix->ix);
    *out = ix;
    return LR_OK;
}

size_t lr_index_count(const lr_index *ix) { return (size_t)faiss_Index_ntotal(ix->ix); }
size_t lr_index_removed_count(const lr_index *ix) { return ix->n_tomb; }
size_t lr_index_dim(const lr_index *ix) { return ix->dim; }
const char *lr_index_factory(const lr_index *ix) { return ix->factory; }

void lr_index_set_factory_name(lr_index *ix, const char *factory) {
    snprintf(ix->factory, sizeof ix->factory, "%s", factory);
}

void lr_index_free(lr_index *ix) {
    if (!ix) return;
    lr_data_matrix_free(ix->rs);
    free(ix->tomb);
    lr_index_attrs_free(ix->attrs);
    lr_index_rows_free(ix->rows);
    faiss_Index_free(ix->ix);
    free(ix);
}

void lr_index_set_attrs(lr_index *ix, lr_index_attrs *attrs) {
    lr_index_attrs_free(ix->attrs);
    ix->attrs = attrs;
}

const lr_index_attrs *lr_index_get_attrs(const lr_index *ix) { return ix->attrs; }

void lr_index_set_rows(lr_index *ix, lr_index_rows *rows) {
    lr_index_rows_free(ix->rows);
    ix->rows = rows;
}

int lr_index_exact_search(const float *x, size_t n, size_t dim, const float *q, size_t nq,
                          size_t k, int64_t *ids, float *scores, lr_err *err) {
    FaissIndexFlatIP *flat = NULL;
    int rc = LR_OK;
    if (faiss_IndexFlatIP_new_with(&flat, (idx_t)dim) || faiss_Index_add((FaissIndex *)flat, (idx_t)n, x) ||
        faiss_Index_search((FaissIndex *)flat, (idx_t)nq, q, (idx_t)k, scores, (idx_t *)ids))
        rc = lr_index_faiss_fail(err, "exact search");
    faiss_Index_free((FaissIndex *)flat);
    for (size_t i = 0; !rc && i < nq * k; i++)
        if (ids[i] < 0) scores[i] = -INFINITY;
    return rc;
}
