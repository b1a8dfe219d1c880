/* Inside index/: what publish.c needs from index.c beyond the public header. */
#ifndef LR_INDEX_INTERNAL_H
#define LR_INDEX_INTERNAL_H

#include <faiss/c_api/Index_c.h>

#include "faiss_shim.h"
#include "lr_data.h"
#include "lr_index.h"

struct lr_index {
    FaissIndex *ix;
    size_t dim, nprobe;
    char factory[160];
    /* exact re-scoring: row i of rs is item i's vector; the index owns it (a copy, or the
     * version's vectors.npy mapped) */
    lr_data_matrix *rs;
    size_t rs_depth;
    /* ids removed from a fast-scan index (FAISS cannot remove there): sorted, skipped by search */
    int64_t *tomb;
    size_t n_tomb, cap_tomb;
    /* operating points by k, ascending (none: every k uses nprobe and rs_depth) */
    lr_index_tune points[LR_INDEX_MAX_POINTS];
    size_t n_points;
    lr_index_attrs *attrs; /* item attributes published with the version (NULL: none) */
    lr_index_rows *rows;   /* what each id stood for, published for the next rebuild (NULL: none) */
    lr_index_filter_policy filter_policy; /* when filter_policy_set, else the defaults */
    int filter_policy_set;
};

/* q against row id of the re-scoring vectors (float32, or float16 kept mapped). */
float lr_index_rs_dot(const lr_index *ix, const float *q, size_t id);

/* The checks every search makes (k >= 1, finite queries) and the operating point for k: *nprobe
 * (0 in: the point's, when the index takes a per-call nprobe) and *depth. */
int lr_index_search_prepare(const lr_index *ix, size_t nq, const float *q, size_t k, size_t *nprobe,
                            size_t *depth, lr_err *err);

/* filter.c: whether f has no clause at all; the ids its smallest allow list admits that pass
 * every clause (*out malloc'd, the caller frees; LR_EINVAL when no allow list bounds them). */
int lr_index_filter_is_empty(const lr_index_filter *f);
const lr_index_attrs *lr_index_filter_attrs(const lr_index_filter *f); /* NULL: none */
int lr_index_filter_candidates(const lr_index_filter *f, int64_t **out, size_t *n, lr_err *err);
/* The items 0 .. items-1 f allows as a bitmap (*out malloc'd, (items + 63) / 64 words; the caller
 * frees), from the values' bitmaps and postings: a test per scanned code instead of a walk
 * through the item's values. Ids outside it (added items) still need lr_index_filter_allows. */
int lr_index_filter_bitmap(const lr_index_filter *f, uint64_t **out, lr_err *err);

/* Marks ids as removed; *added (may be NULL) gets how many were not marked before. */
int lr_index_tomb_add(lr_index *ix, size_t n, const int64_t *ids, size_t *added, lr_err *err);
int lr_index_tomb_has(const lr_index *ix, int64_t id);
/* FAISS's message lives in a thread-local until its next call: copies it into err now. */
int lr_index_faiss_fail(lr_err *err, const char *what);

/* The searches below take the call's nprobe (0: the index's own setting) and re-scoring depth
 * (0: none; used only when the index has re-scoring vectors). */

/* lr_index_search when ids are marked removed: over-fetches, then drops them. */
int lr_index_filtered_search(const lr_index *ix, size_t nq, const float *q, size_t k, size_t nprobe,
                             size_t depth, int64_t *ids, float *scores, lr_err *err);

/* Re-scored when the index has vectors and depth > 0, else plain; no tombstones. */
int lr_index_unfiltered_search(const lr_index *ix, size_t nq, const float *q, size_t k, size_t nprobe,
                               size_t depth, int64_t *ids, float *scores, lr_err *err);

/* The FAISS search alone (no checks, no re-scoring); padded with -1 / -INFINITY. */
int lr_index_plain_search(const lr_index *ix, size_t nq, const float *q, size_t k, size_t nprobe,
                          int64_t *ids, float *scores, lr_err *err);

/* lr_index_search when re-scoring is on: max(depth, k) candidates, re-ranked exactly. */
int lr_index_rescored_search(const lr_index *ix, size_t nq, const float *q, size_t k, size_t nprobe,
                             size_t depth, int64_t *ids, float *scores, lr_err *err);
/* Candidates ci/cs (nq * depth, -1 padded) re-scored from the re-scoring vectors where a row
 * exists; the best k per query into ids/scores. */
int lr_index_rescore_candidates(const lr_index *ix, size_t nq, const float *q, const int64_t *ci, const float *cs,
                                size_t depth, size_t k, int64_t *ids, float *scores, lr_err *err);

/* topk.c: the best k of scored candidates in caller-owned arrays of k (start with n = 0). push
 * keeps (id, s) when it beats the worst kept (higher score, or equal and a smaller id); finish
 * sorts best first and pads to k with -1 / -INFINITY. */
typedef struct {
    int64_t *ids;
    float *scores;
    size_t n, k;
} lr_index_topk;
void lr_index_topk_push(lr_index_topk *h, int64_t id, float s);
void lr_index_topk_finish(lr_index_topk *h);

/* learnrec's scan of 8-bit scalar codes (sq8_scan.c), used for them instead of FAISS's: whether
 * ix has such codes; the best k over each query's nprobe given lists (row i at lists + i *
 * stride, coarse inner products beside; -1 skipped) among the ids `allows` accepts (NULL: all),
 * share being about the fraction of items it accepts (it picks how the filter is asked); the same with the lists from the coarse
 * quantizer (nprobe 0: the index's own). Results padded with -1 / -INFINITY. */
int lr_index_sq8_scannable(const lr_index *ix);
int lr_index_sq8_scan(const lr_index *ix, size_t nq, const float *q, size_t k, size_t nprobe, size_t stride,
                      const idx_t *lists, const float *list_dis, lr_faiss_allows allows, const void *ctx,
                      double share, int64_t *ids, float *scores, lr_err *err);
int lr_index_sq8_search(const lr_index *ix, size_t nq, const float *q, size_t k, size_t nprobe,
                        lr_faiss_allows allows, const void *ctx, double share, int64_t *ids, float *scores,
                        lr_err *err);

/* Whether FAISS can search this index over a call's own lists (lr_index_probe_search). */
int lr_index_takes_call_nprobe(const lr_index *ix);

/* The FAISS search over nprobe lists other than the index's setting, the index untouched. */
int lr_index_probe_search(const lr_index *ix, size_t nq, const float *q, size_t k, size_t nprobe,
                          int64_t *ids, float *scores, lr_err *err);

/* The deepest re-scoring a search may do: each query of a search holds that many candidates. */
#define LR_INDEX_MAX_RESCORE_DEPTH 100000

/* Takes ownership of vectors (the version's vectors.npy) for re-scoring at depth (at most
 * LR_INDEX_MAX_RESCORE_DEPTH: the caller checks). */
int lr_index_adopt_rescore(lr_index *ix, lr_data_matrix *vectors, size_t depth);

/* The manifest's own checksum (manifest_seal.c, manifest format 3). The object's last member is
 * "manifest_crc32": N, N the CRC-32 of every byte of the file before N's digits, and the file
 * ends right after them with "\n}\n": a change to any byte is caught. */
/* Writes body (a JSON object as jansson's JSON_INDENT dumps it: ending "\n}") to path with the
 * checksum added as its last member, then syncs it. */
int lr_index_manifest_write_sealed(const char *path, const char *body, lr_err *err);
/* Reads path (at most 1 MiB) into *text (malloc'd, NUL-terminated after its *len bytes; the caller
 * frees it). *sealed tells whether it has a checksum, which was verified: a mismatch or a
 * malformed end is LR_EFORMAT naming path; a missing file LR_ENOTFOUND. */
int lr_index_manifest_read_sealed(const char *path, char **text, size_t *len, int *sealed, lr_err *err);

/* lr_index_publish, returning after step 1-4 as a crash there would (0: all steps): the tests'
 * way to check that a crash at any step leaves the previous version loadable. */
int lr_index_publish_until(const lr_index *ix, const char *dir, const lr_index_publish_opts *opts,
                           int stop_after_step, lr_index_manifest *man, lr_err *err);

/* publish.c: the CRC-32 of a whole file (LR_ENOTFOUND naming it when missing); the manifest
 * format this learnrec writes and reads up to. */
int lr_index_file_crc32(const char *path, uint32_t *out, lr_err *err);
/* 2 added the operating points, what they were tuned on, and "metadata" (format 1 had the model
 * and content checksums as fields of their own); 3 the manifest's own checksum, its last member
 * (manifest_seal.c). Formats 1 and 2 still load, unchecked. Attributes, rows and "reused" are
 * optional members of format 3. */
#define LR_INDEX_MANIFEST_FORMAT 3u

/* Records the factory string of a loaded index (FAISS files do not keep it; manifests do). */
void lr_index_set_factory_name(lr_index *ix, const char *factory);

/* versions.c: "vNNNNNN"; the lock publishers hold on dir (LR_EBUSY when held); `current` swapped
 * to versions/version (with stop_before_rename, only the new link is made: a crash's debris). */
int lr_index_version_name_ok(const char *name);
int lr_index_publish_lock(const char *dir, int *fd, lr_err *err);
void lr_index_publish_unlock(int fd);
int lr_index_swap_current(const char *dir, const char *version, int stop_before_rename, lr_err *err);

/* attrs.c / attrs_io.c: one attribute of an lr_index_attrs (see attrs.c for the layout). */
typedef struct {
    char name[LR_INDEX_ATTR_NAME_MAX + 1];
    size_t n_values;
    char *bytes;      /* the values, each NUL-terminated, ascending */
    uint32_t *voff;   /* n_values + 1 */
    uint32_t *ioff;   /* n_items + 1 */
    uint32_t *ids;    /* ioff[n_items] */
    uint32_t *poff;   /* n_values + 1: the postings, items by value (built, never stored) */
    uint32_t *post;   /* ioff[n_items] items, ascending within each value */
    uint64_t **vbits; /* n_values: a bitmap over the items for a value held by at least
                       * 1/64 of them (smaller than its postings from 1/32), else NULL */
    char **xval;      /* values first seen on items added while serving: ids n_values + j */
    size_t n_xval, cap_xval;
} lr_index_attr;

/* One attribute of an item added while serving: values pool[off .. off + n). */
typedef struct {
    int64_t id;
    uint32_t attr, off, n;
} lr_index_added_ref;

struct lr_index_attrs {
    size_t n_items, n;
    lr_index_attr a[LR_INDEX_MAX_ATTRS];
    /* items added while serving (attrs_added.c): a ref per (id, attribute), sorted by both; the
     * version's own arrays above never change */
    lr_index_added_ref *added;
    size_t n_added;
    uint32_t *pool;
    size_t n_pool;
};

/* The added item's refs (one per attribute, n of them), or NULL when id has none (attrs_added.c). */
const lr_index_added_ref *lr_index_attrs_added_of(const lr_index_attrs *a, int64_t id);
/* The added items whose values for attribute k meet bits (over its value ids) into out (NULL:
 * only counted); returns how many. */
size_t lr_index_attrs_added_holding(const lr_index_attrs *a, size_t k, const uint64_t *bits, int64_t *out);

void lr_index_attr_free(lr_index_attr *x);
/* A 1-d tensor `name` of dtype as a malloc'd copy of want elements (SIZE_MAX: any number; *n,
 * may be NULL, gets it): LR_EFORMAT naming path and the tensor otherwise (attrs_io.c; the
 * attributes' and the rows' readers). */
int lr_index_st_copy(const lr_data_st_file *f, const char *path, const char *name, const char *dtype, size_t want,
                     void **out, size_t *n, lr_err *err);
/* The bitmap over the items of value v of attribute k, when it has one (attrs.c). */
const uint64_t *lr_index_attrs_value_bits(const lr_index_attrs *a, size_t k, size_t v);
/* Builds x's postings (value -> items) and its large values' bitmaps from its per-item ids. */
int lr_index_attr_postings(lr_index_attr *x, size_t n_items, lr_err *err);

#endif /* LR_INDEX_INTERNAL_H */
