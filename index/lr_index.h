/* The index library: approximate and exact search over item embeddings through the FAISS C API.
 *
 * An lr_index owns one FAISS index over int64 item ids, inner-product metric (the towers'
 * vectors are unit length, so this is cosine). FAISS's C API keeps its last error in a
 * thread-local; index/ copies it into an lr_err on the same thread at once.
 * lr_index_search on one index is safe from many threads; add, remove, set_nprobe and free need
 * the caller to stop searches first. The backend functions are safe from any thread.
 * index/ never changes thread settings: FAISS's OpenMP uses what the program set, and the program
 * should keep OpenBLAS at one thread while it builds or searches (OpenBLAS threads fight FAISS's
 * OpenMP ones: design.md section 4). */
#ifndef LR_INDEX_H
#define LR_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "lr_error.h"

typedef struct {
    const char *faiss_version; /* of Debian's faiss source package, e.g. "1.7.3-2" */
    const char *variant;       /* "avx2" or "generic": the FAISS core compiled in */
    int cpu_has_avx2;          /* what this CPU reports */
} lr_index_backend;

lr_index_backend lr_index_backend_info(void);

/* Checks that the compiled-in FAISS can run here (an AVX2 build needs an AVX2 CPU) and that it
 * answers: builds a tiny exact inner-product index through the C API and searches it. */
int lr_index_backend_check(lr_err *err);

/* ---- the index --------------------------------------------------------------------------- */

typedef struct lr_index lr_index;

/* The default factory string for n vectors of dimension dim: IVF with about 4 sqrt(n) lists
 * (between 1 and n / 39, the fewest training points per list FAISS accepts without warning)
 * and 8-bit scalar codes (dim bytes a vector), chosen over PQ by measurement; "Flat" below
 * 1,000 vectors. */
void lr_index_default_factory(size_t n, size_t dim, char *buf, size_t cap);

/* Builds an index over x (n * dim, row i has id ids[i], or i when ids is NULL). `factory` is any
 * FAISS index_factory string (NULL: the default). Coarse quantizer and PQ are trained on an
 * evenly strided sample of at most LR_INDEX_SAMPLES_PER_LIST * nlist vectors (the lists with
 * LR_INDEX_KMEANS_ROUNDS k-means rounds); vectors are added in batches. */
int lr_index_build(const float *x, size_t n, size_t dim, const int64_t *ids, const char *factory,
                   lr_index **out, lr_err *err);

/* Whether re-scoring vectors default to float16 for n vectors of dimension dim: once their float32
 * form would take LR_INDEX_F16_VECTORS_BYTES (about 4M items at 64 dimensions). Measured at 10M x
 * 64 (docs/scaling.md): float16 halves what they keep resident (2.4 -> 1.2 GB) and leaves the
 * tuned setting as it was; recall@10 at that setting 0.950 instead of 0.954. Below, float32 costs
 * little and keeps scores exact. */
#define LR_INDEX_F16_VECTORS_BYTES (1024.0 * 1024.0 * 1024.0)
int lr_index_default_vectors_f16(size_t n, size_t dim);

#define LR_INDEX_SAMPLES_PER_LIST 64
#define LR_INDEX_KMEANS_ROUNDS 10

/* The training's size, for measuring it (bench_index): 0 takes the defaults above. */
typedef struct {
    size_t samples_per_list, kmeans_rounds;
} lr_index_train_opts;

int lr_index_build_ex(const float *x, size_t n, size_t dim, const int64_t *ids, const char *factory,
                      const lr_index_train_opts *train, lr_index **out, lr_err *err);

/* q: nq * dim; ids, scores: nq * k each, caller-owned, padded with -1 / -INFINITY. */
int lr_index_search(const lr_index *ix, size_t nq, const float *q, size_t k, int64_t *ids,
                    float *scores, lr_err *err);

/* lr_index_search probing nprobe lists per query instead of the index's setting (0: that
 * setting; clamped to the list count), without changing the index: calls with different nprobe
 * may run at once, beside plain searches. IVF indexes whose lists FAISS scans one by one;
 * LR_EUNSUPPORTED for others (not IVF, fast-scan codes, or IVF inside a transform such as OPQ),
 * where the caller can still stop searches and use lr_index_set_nprobe. */
int lr_index_search_nprobe(const lr_index *ix, size_t nq, const float *q, size_t k, size_t nprobe,
                           int64_t *ids, float *scores, lr_err *err);

/* Lists an IVF index probes per query (clamped to its list count); LR_EUNSUPPORTED otherwise. */
int lr_index_set_nprobe(lr_index *ix, size_t nprobe, lr_err *err);
size_t lr_index_nprobe(const lr_index *ix); /* 0 when not an IVF index */
size_t lr_index_nlist(const lr_index *ix);  /* inverted lists, from the factory string; 0 when not IVF */

/* Adds n vectors (n * dim) with the given ids. FAISS keeps no id lookup, so ids are not checked
 * against those already stored: a caller re-adding an id must remove it first (the server does). */
int lr_index_add(lr_index *ix, size_t n, const float *x, const int64_t *ids, lr_err *err);
/* Removes ids; *removed (may be NULL) gets how many were. FAISS cannot remove from fast-scan
 * lists, so there the ids are marked removed and searches skip them (counting ids newly marked,
 * indexed or not) until a rebuild; such an id cannot be added again before that rebuild. */
int lr_index_remove(lr_index *ix, size_t n, const int64_t *ids, size_t *removed, lr_err *err);

/* Re-scores the best max(depth, k) candidates of each search exactly against `vectors` (n * dim,
 * row = id; borrowed until the next call or lr_index_free) and returns the top k of them; depth 0
 * turns it off. Ids without a row (items added after the build) keep their approximate score. */
int lr_index_set_rescore(lr_index *ix, const float *vectors, size_t n, size_t depth, lr_err *err);
size_t lr_index_rescore_depth(const lr_index *ix); /* 0: off */
/* How the re-scoring vectors are held: "memory" (set_rescore's copy), "npy-f32 (mapped)" or
 * "npy-f16 (mapped)" (an opened version's vectors.npy, read in place; float16 costs half the
 * memory and re-scores within about 1e-3); "" when there are none. */
const char *lr_index_rescore_source(const lr_index *ix);

/* Renumbers the stored ids for a new catalogue: id i becomes old_to_new[i] (n_old entries); ids
 * mapped to -1 or outside 0 .. n_old-1 are dropped with their codes (*kept, may be NULL, gets
 * how many stay). The trained quantizer and every other code stay as they are: what a rebuild
 * reuses when the model did not change. Re-scoring vectors and attributes are dropped (their
 * rows were the old ids): set them again. LR_EUNSUPPORTED for indexes other than IVF with
 * array lists (fast-scan codes, flat). Needs searches stopped. */
int lr_index_remap(lr_index *ix, const int64_t *old_to_new, size_t n_old, size_t *kept, lr_err *err);

/* The FAISS index file alone (written aside, synced, renamed); the manifest is the caller's. */
int lr_index_save(const lr_index *ix, const char *path, lr_err *err);
int lr_index_load(const char *path, lr_index **out, lr_err *err);

size_t lr_index_count(const lr_index *ix); /* vectors stored, marked-removed ones included */
size_t lr_index_removed_count(const lr_index *ix); /* ids marked removed (fast-scan indexes) */
size_t lr_index_dim(const lr_index *ix);
const char *lr_index_factory(const lr_index *ix); /* as built ("" when loaded from a file) */
void lr_index_free(lr_index *ix); /* NULL is a no-op */

/* Exact inner-product search over x (n * dim; ids are row numbers): the ground truth.
 * ids, scores: nq * k each, padded with -1 / -INFINITY. */
int lr_index_exact_search(const float *x, size_t n, size_t dim, const float *q, size_t nq,
                          size_t k, int64_t *ids, float *scores, lr_err *err);

/* ---- autotune and operating points ----------------------------------------------------------- */

/* An operating point: how to search for requests up to k results. */
typedef struct {
    size_t k;           /* serves requests for up to k results (above the previous point's k) */
    size_t nprobe;      /* lists probed */
    size_t depth;       /* re-scoring depth (0: none) */
    double recall;      /* recall@k against exact search measured when tuned */
    int reached;        /* whether that recall reached the target */
} lr_index_tune;

#define LR_INDEX_MAX_POINTS 8

/* Tunes one operating point per k in ks (nk of them, ascending, at most LR_INDEX_MAX_POINTS):
 * for each, the cheapest nprobe (1, 2, 3, 4, 6, 8, 12, ... up to nlist) and, when the index has
 * re-scoring vectors, re-scoring depth (0, 2k, 5k, 10k, 20k) whose recall@k against exact search over x
 * (n * dim, ids = row numbers, as built) reaches `target`; cost is the bytes a query reads (the
 * codes of the probed lists plus the re-scored vectors). Then sets them (lr_index_set_points).
 * The queries: q (nq * dim), vectors like the ones users will send (user-tower outputs); or,
 * with q NULL, nq rows of x evenly spread, each searched with itself left out of both its
 * results and its exact top k: a fresh query from the items' own distribution, which an item
 * with a little noise added is not (it finds itself, and every setting looks good).
 * points (nk, may be NULL) gets what was chosen. A k at or above n is skipped (*n_points, may
 * be NULL, gets how many were tuned). LR_EUNSUPPORTED for an index that is not IVF. */
int lr_index_autotune(lr_index *ix, const float *x, size_t n, const float *q, size_t nq,
                      const size_t *ks, size_t nk, double target, lr_index_tune *points,
                      size_t *n_points, lr_err *err);

/* Measures the index's own operating points again on queries q (nq * dim) against exact search
 * over x (n * dim, ids = row numbers): measured (one per point) gets each point with the recall
 * now, *all_reached whether every point still reaches target. The points stay (their recall
 * updated): how a rebuild decides whether it must tune again. */
int lr_index_check_points(lr_index *ix, const float *x, size_t n, const float *q, size_t nq, double target,
                          lr_index_tune *measured, int *all_reached, lr_err *err);

/* The operating points searches follow (n of them, ascending k; n = 0 clears them). A search for
 * k results takes the first point whose k is at least k (the last point above that), its depth
 * and, on indexes that take a per-call nprobe, its nprobe. The index's own nprobe and depth
 * become the deepest point's, which is what indexes without a per-call nprobe (fast-scan) use
 * for every k. A call's explicit nprobe (lr_index_search_nprobe) still wins over the point's. */
int lr_index_set_points(lr_index *ix, const lr_index_tune *points, size_t n, lr_err *err);
/* The points set (valid until the next set or free); *n gets their count (0: none). */
const lr_index_tune *lr_index_points(const lr_index *ix, size_t *n);

/* ---- item attributes: published with a version, what filters and diversity caps work on ---- */

/* Named attributes over the items 0 .. items-1 (an item's id is its row), each item holding zero
 * or more of an attribute's values. Values are kept sorted bytewise: value ids are ranks. Read-
 * only once built or loaded: safe from many threads. */
typedef struct lr_index_attrs lr_index_attrs;

#define LR_INDEX_MAX_ATTRS 16
#define LR_INDEX_ATTR_NAME_MAX 63

int lr_index_attrs_new(size_t items, lr_index_attrs **out, lr_err *err);
/* Adds attribute `name` (1 to LR_INDEX_ATTR_NAME_MAX bytes, new): n_values distinct non-empty
 * strings; item i has the values ids[off[i] .. off[i+1]) (off: items + 1 entries from 0). Ids
 * are renumbered to the sorted order. LR_EINVAL names what is wrong. */
int lr_index_attrs_add(lr_index_attrs *a, const char *name, const char *const *values, size_t n_values,
                       const size_t *off, const uint32_t *ids, lr_err *err);
size_t lr_index_attrs_items(const lr_index_attrs *a);
size_t lr_index_attrs_count(const lr_index_attrs *a);
const char *lr_index_attrs_name(const lr_index_attrs *a, size_t k); /* NULL past the end */
int lr_index_attrs_find(const lr_index_attrs *a, const char *name); /* -1: none */
size_t lr_index_attrs_num_values(const lr_index_attrs *a, size_t k);
const char *lr_index_attrs_value(const lr_index_attrs *a, size_t k, size_t v); /* NULL past the end */
/* The value id of the len bytes at s (no NUL needed), or -1. O(log values). */
int64_t lr_index_attrs_find_value(const lr_index_attrs *a, size_t k, const char *s, size_t len);
/* The items holding value v of attribute k, ascending (*n; NULL and 0 for none). */
const uint32_t *lr_index_attrs_items_with(const lr_index_attrs *a, size_t k, size_t v, size_t *n);
/* Item's value ids for attribute k (*n; NULL and 0 for none, for an item outside 0 .. items-1
 * that was not given attributes when it was added). */
const uint32_t *lr_index_attrs_of(const lr_index_attrs *a, size_t k, int64_t item, size_t *n);
/* attributes.safetensors (integer tensors and the values as bytes; written aside and synced). */
int lr_index_attrs_save(const lr_index_attrs *a, const char *path, lr_err *err);
/* Reads and checks every offset, id and value (LR_EFORMAT naming the file and the tensor). */
int lr_index_attrs_load(const char *path, lr_index_attrs **out, lr_err *err);
void lr_index_attrs_free(lr_index_attrs *a); /* NULL is a no-op */

/* ---- rows: what each id stood for, for the next rebuild ---------------------------------------- */

/* Per id (= row) of a version: the item's key (its id in the catalogue's files) and a hash of the
 * content its vector came from. A rebuild compares them with the new catalogue to reuse the
 * vectors and codes of what did not change. */
typedef struct lr_index_rows lr_index_rows;

int lr_index_rows_new(size_t n, lr_index_rows **out, lr_err *err);
int lr_index_rows_set(lr_index_rows *r, size_t i, const char *key, uint64_t hash, lr_err *err); /* key copied */
size_t lr_index_rows_count(const lr_index_rows *r);
const char *lr_index_rows_key(const lr_index_rows *r, size_t i); /* "" when unset */
uint64_t lr_index_rows_hash(const lr_index_rows *r, size_t i);
/* The row of key, or -1 (a hash table for rows read from a file, a scan otherwise). */
int64_t lr_index_rows_find(const lr_index_rows *r, const char *key);
int lr_index_rows_save(const lr_index_rows *r, const char *path, lr_err *err);
int lr_index_rows_load(const char *path, lr_index_rows **out, lr_err *err); /* keys distinct */
void lr_index_rows_free(lr_index_rows *r); /* NULL is a no-op */

/* Set on an index before publishing, the rows go with the version (rows.safetensors, checksummed);
 * the index takes ownership. Serving never reads them: lr_index_read_rows does, for a rebuild. */
void lr_index_set_rows(lr_index *ix, lr_index_rows *rows);
/* A published version's rows (NULL version: the current one), checked against its manifest;
 * LR_ENOTFOUND when it has none (published before rows). */
int lr_index_read_rows(const char *dir, const char *version, lr_index_rows **out, lr_err *err);

/* The attributes travel with the index: set them before lr_index_publish and they are published
 * (and checksummed) with the version; lr_index_open loads them back. The index takes ownership
 * (NULL clears); the previous ones are freed. */
void lr_index_set_attrs(lr_index *ix, lr_index_attrs *attrs);
const lr_index_attrs *lr_index_get_attrs(const lr_index *ix); /* NULL: none */

/* Attributes for items added while serving: item i of n gets the values v[off[i] .. off[i+1])
 * (one entry per attribute named, strings of 1 to LR_INDEX_ATTR_VALUE_MAX bytes without NUL),
 * replacing whatever the id held; attributes it does not name, it holds none of. Values the
 * version never saw get new ids after its own. Filters, caps and lr_index_attrs_of see them at
 * once; a version's files never do. Callers keep readers out meanwhile (the server's write
 * lock). lr_index_check_added_attrs checks the same input and changes nothing: LR_EINVAL naming
 * the item and the attribute (an attribute the version lacks, a bad value, a name twice);
 * LR_EUNSUPPORTED when the version has no attributes. */
#define LR_INDEX_ATTR_VALUE_MAX 1024
typedef struct lr_index_item_values {
    const char *name;
    size_t name_len;
    const char *const *values;
    const size_t *lens;
    size_t n;
} lr_index_item_values;
int lr_index_check_added_attrs(const lr_index *ix, size_t n, const size_t *off, const lr_index_item_values *v,
                               lr_err *err);
int lr_index_set_added_attrs(lr_index *ix, size_t n, const int64_t *ids, const size_t *off,
                             const lr_index_item_values *v, lr_err *err);

/* ---- filters: the k best items that pass, chosen during the search -------------------------- */

/* A filter over one version's attributes (borrowed: it must outlive the filter) and over ids.
 * An item passes when it holds at least one value of every allow clause, none of any deny
 * clause, is among the allowed ids (when given) and not among the denied ones. Items without
 * attributes (added while serving) pass no allow clause on values and every deny clause. */
typedef struct lr_index_filter lr_index_filter;

int lr_index_filter_new(const lr_index_attrs *attrs, lr_index_filter **out, lr_err *err);
/* A clause on attribute attr: n values of lens[i] bytes (values no item holds match none). An
 * attribute the version lacks is LR_EINVAL naming the ones it has. At most 32 clauses. */
int lr_index_filter_values(lr_index_filter *f, const char *attr, const char *const *values, const size_t *lens,
                           size_t n, int deny, lr_err *err);
/* The allowed ids (deny 0) or denied ids (deny 1), each at most once per filter. */
int lr_index_filter_ids(lr_index_filter *f, const int64_t *ids, size_t n, int deny, lr_err *err);
int lr_index_filter_allows(const lr_index_filter *f, int64_t id);
/* An upper bound on the items that pass (from the smallest allow list); SIZE_MAX: unbounded. */
size_t lr_index_filter_estimate(const lr_index_filter *f);
void lr_index_filter_free(lr_index_filter *f); /* NULL is a no-op */

/* lr_index_search_nprobe with only items f allows (f NULL or empty: no filter): the best k of
 * them, fewer only when fewer pass. Few allowed items are scored exactly from the re-scoring
 * vectors; otherwise FAISS skips refused ids inside its scan, probing more lists for a narrow
 * filter and more again while a query is short of k (indexes without a selector, such as
 * fast-scan ones, over-fetch and deepen instead). Safe beside other searches. */
int lr_index_search_filter(const lr_index *ix, size_t nq, const float *q, size_t k, size_t nprobe,
                           const lr_index_filter *f, int64_t *ids, float *scores, lr_err *err);

/* Diversity caps: at most max results (max >= 1) share one value of attribute attr. */
typedef struct {
    const char *attr;
    size_t max;
} lr_index_cap;

/* lr_index_search_filter for one query, the results also under the caps (n_caps, at most
 * LR_INDEX_MAX_ATTRS; none: no cap): taken best first while they fit, the search deepened while
 * fewer than k fit and more items pass the filter. Items without the attribute are not capped.
 * An attribute the version lacks is LR_EINVAL. */
int lr_index_search_capped(const lr_index *ix, const float *q, size_t k, size_t nprobe, const lr_index_filter *f,
                           const lr_index_cap *caps, size_t n_caps, int64_t *ids, float *scores, lr_err *err);

/* The caps over given candidates (m, best first; -1 ids skipped): the first k that fit go into
 * ids/scores, *taken of them. For lists made elsewhere (the popular items). */
int lr_index_caps_pick(const lr_index_attrs *a, const lr_index_cap *caps, size_t n_caps, const int64_t *ci,
                       const float *cs, size_t m, size_t k, int64_t *ids, float *scores, size_t *taken, lr_err *err);

/* How lr_index_search_filter chooses: exact over the allowed items when their count times
 * exact_ratio is at most the codes the scan would read; the scan probes nprobe * (1/share)^alpha
 * lists, share being the allowed items' share of the index. */
typedef struct {
    double exact_ratio;
    double alpha;
} lr_index_filter_policy;

lr_index_filter_policy lr_index_filter_policy_default(void);
/* Sets ix's policy (NULL: back to the defaults); needs searches stopped, like set_nprobe. */
int lr_index_set_filter_policy(lr_index *ix, const lr_index_filter_policy *p, lr_err *err);

/* ---- index directories: versions, manifests, atomic publishing ------------------------------ */

/* DIR/versions/vNNNNNN/{index.faiss, manifest.json[, vectors.npy][, removed.txt][, attributes.safetensors]} and DIR/current, a symbolic link to the
 * version being served. A new version is written to a temporary directory, synced, renamed into
 * versions/, and `current` is swapped with one rename: a crash at any moment leaves the previous
 * version loadable. */
/* Metadata a publisher records with a version and an opener can require: which model and which
 * content the vectors came from, say. index/ stores and compares them and gives them no meaning. */
typedef struct {
    const char *key;   /* at most 31 bytes */
    const char *value; /* at most 95 bytes */
} lr_index_kv;

#define LR_INDEX_MAX_META 8

/* What a rebuild took over from the version it started from (all 0: built from scratch). */
typedef struct {
    char from[8];          /* the version it started from ("" none) */
    size_t vectors;        /* item vectors kept (their content and the model unchanged) */
    size_t codes;          /* codes kept in the index (the same items, renumbered) */
    int quantizer;         /* the trained coarse quantizer and codec kept */
    int points;            /* the operating points kept (recall still on target) */
} lr_index_reuse;

typedef struct {
    unsigned format;       /* manifest format version */
    char version[32];      /* "v000003" */
    size_t dim, count, nprobe;
    char factory[160];
    struct {
        char key[32], value[96];
    } meta[LR_INDEX_MAX_META]; /* as given at publish time */
    size_t n_meta;
    char created[32];      /* UTC, ISO 8601 */
    uint32_t index_crc32;  /* of index.faiss */
    size_t rescore_depth;  /* 0: no vectors.npy */
    char vectors_dtype[8]; /* "f32", "f16" or "" */
    uint32_t vectors_crc32;
    size_t removed_count;  /* ids marked removed (removed.txt, one per line) */
    uint32_t removed_crc32;
    lr_index_tune points[LR_INDEX_MAX_POINTS]; /* operating points by k (format 2; none before) */
    size_t n_points;
    char tuned_on[128];    /* what the points were measured on ("" if not said) */
    size_t attrs_count;    /* item attributes in attributes.safetensors (0: no such file) */
    uint32_t attrs_crc32;
    size_t rows_count;     /* rows.safetensors (0: no such file) */
    uint32_t rows_crc32;
    lr_index_reuse reused; /* what the rebuild kept from the version before */
} lr_index_manifest;

/* The value the manifest records for key, or NULL. */
const char *lr_index_manifest_meta(const lr_index_manifest *m, const char *key);

typedef struct {
    const lr_index_kv *meta;      /* recorded in the manifest (n_meta of them; keys distinct) */
    size_t n_meta;
    size_t keep_versions;         /* older versions beyond this many are deleted (0: keep all) */
    int vectors_f16;              /* store re-scoring vectors as float16 */
    const char *tuned_on;         /* recorded with the operating points; NULL: "" */
    const float *vectors;         /* when no point re-scores: the item vectors (row = id, n_vectors
                                   * rows) written as vectors.npy all the same, for the next rebuild
                                   * to reuse (serving does not read them then) */
    size_t n_vectors;
    const lr_index_reuse *reused; /* recorded as "reused"; NULL: nothing was */
} lr_index_publish_opts;

/* Publishes ix as the next version of dir (created when missing); man (may be NULL) gets its
 * manifest. One publisher at a time per directory: a publish first clears temporary files that
 * an earlier, crashed publish left. */
int lr_index_publish(const lr_index *ix, const char *dir, const lr_index_publish_opts *opts,
                     lr_index_manifest *man, lr_err *err);

/* The CRC-32 of a file as 8 hex digits (out: 9 bytes), a value for lr_index_kv: how the tools
 * name models and content in manifests. */
int lr_index_file_checksum(const char *path, char out[9], lr_err *err);

/* The versions in dir/versions (names ascending) and the one `current` points to ("" if none). */
typedef struct {
    char (*names)[8]; /* "v000003" */
    size_t n;
    char current[8];
} lr_index_version_list;

int lr_index_versions(const char *dir, lr_index_version_list *out, lr_err *err);
void lr_index_versions_free(lr_index_version_list *l);

/* Reads a version's manifest (NULL: the current one) without opening or verifying its files. */
int lr_index_read_manifest(const char *dir, const char *version, lr_index_manifest *man, lr_err *err);

/* Makes an already published version current again (a rollback): it is opened and verified
 * first, then `current` is swapped with one rename, under the same lock as publishing (LR_EBUSY
 * while another publisher works in dir). A running server keeps its version until `reload`. */
int lr_index_use(const char *dir, const char *version, lr_index_manifest *man, lr_err *err);

/* Opens a version of dir (NULL: the current one), verifying the manifest and the index file's
 * checksum. expect_dim (0: any) and each of the n_expect key-values (expect may be NULL) must
 * match the manifest: a mismatch is LR_EMISMATCH ("built for model 1a2b3c4d, not ..."), damage
 * LR_EFORMAT. Versions published before metadata (manifest format 1) record their model and
 * content checksums as the keys "model" and "content". */
int lr_index_open(const char *dir, const char *version, size_t expect_dim, const lr_index_kv *expect,
                  size_t n_expect, lr_index **out, lr_index_manifest *man, lr_err *err);

/* A version's index file alone, checked like lr_index_open's (with its removed ids and nprobe),
 * without the re-scoring vectors, attributes or operating points: what a rebuild keeps of the
 * previous version's codes before it renumbers them and sets the rest anew. */
int lr_index_open_codes(const char *dir, const char *version, lr_index **out, lr_err *err);

#endif /* LR_INDEX_H */
