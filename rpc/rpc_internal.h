/* Inside rpc/: framing, request fields, the engine's operations, methods and metrics. */
#ifndef LR_RPC_INTERNAL_H
#define LR_RPC_INTERNAL_H

#include <msgpack.h>
#include <stdatomic.h>

#include "lr_rpc.h"

/* index/ types the filter code passes along (repeating a typedef is C11) */
typedef struct lr_index_attrs lr_index_attrs;
typedef struct lr_index_filter lr_index_filter;
typedef struct lr_index_item_values lr_index_item_values;

double lr_rpc_now(void); /* seconds on a monotonic clock (queue.c) */

/* ---- addr.c ---------------------------------------------------------------------------------- */

/* "HOST:PORT" or "[V6]:PORT" into host and port (split at the last colon); LR_EINVAL naming addr
 * when a part is missing or too long. */
int lr_rpc_split_addr(const char *addr, char *host, size_t hcap, char *port, size_t pcap, lr_err *err);
/* ---- versions.c ------------------------------------------------------------------------------ */

/* The directory name, inside dir/versions, of `version` (a plain name) or, when NULL, of what
 * dir/current points to, after resolving every symbolic link: LR_EINVAL for a name that is a
 * path, LR_ENOTFOUND for one that does not exist or leads outside dir/versions. */
#define LR_RPC_VERSION_NAME 64
int lr_rpc_version_resolve(const char *dir, const char *version, char name[LR_RPC_VERSION_NAME], lr_err *err);

/* "HOST:PORT" into the socket address to listen on (numeric or resolved; the first result).
 * ss: a struct sockaddr_storage. */
struct sockaddr_storage;
int lr_rpc_listen_addr(const char *addr, struct sockaddr_storage *ss, unsigned *len, lr_err *err);

/* ---- frame.c: where a msgpack object ends, without decoding it ---------------------------- */

#define LR_FRAME_MAX_DEPTH 32

/* A resumable scan of the first msgpack object in a growing buffer. Nothing is allocated, so a
 * header claiming gigabytes costs nothing: it is refused as soon as it exceeds the limit. */
typedef struct {
    size_t pos; /* bytes of the frame accepted so far */
    int depth;
    uint64_t remaining[LR_FRAME_MAX_DEPTH]; /* objects still to come in each open container */
} lr_frame_scan;

enum { LR_FRAME_INCOMPLETE = 0, LR_FRAME_BAD = -1, LR_FRAME_TOO_LARGE = -2, LR_FRAME_TOO_DEEP = -3 };

/* Continues the scan over buf[0 .. len) (the same buffer, grown). Returns the frame's length
 * (> 0) when it is complete (reset the scan before the next frame), LR_FRAME_INCOMPLETE, or a
 * negative LR_FRAME_* when the bytes cannot be a request within max_frame. */
long lr_rpc_frame_scan_next(lr_frame_scan *s, const unsigned char *buf, size_t len, size_t max_frame);
/* What the server tells a client whose bytes got a negative LR_FRAME_* (LR_FRAME_BAD also for a
 * frame that msgpack-c then cannot decode). */
const char *lr_rpc_frame_problem(long r);

/* ---- utf8.c: every str the server sends is valid UTF-8 ---------------------------------------- */

/* The length of the longest prefix of s[0 .. len) that is well-formed UTF-8 (no overlongs, no
 * surrogates, nothing above U+10FFFF, no cut or stray sequences). */
size_t lr_rpc_utf8_valid(const char *s, size_t len);
/* How many bytes of s[0 .. len) to show when showing at most max: len when it fits, else max,
 * or up to 3 fewer so that a character is not cut in two. */
size_t lr_rpc_utf8_cut(const char *s, size_t len, size_t max);
/* s[0 .. len) with every byte that is not part of a well-formed sequence written as the four
 * characters \xNN (lowercase hex); valid input comes out unchanged. Only validity is the aim,
 * not a reversible encoding: a backslash the input already holds stays as it is. Writes into
 * out (room for what a call with out NULL returns, at most 4 * len bytes; no NUL) and returns
 * the length; equal to len exactly when the input was valid. */
size_t lr_rpc_utf8_escape(char *out, const char *s, size_t len);
/* Packs s[0 .. len) as a msgpack str, escaped as above, allocating nothing; non-zero when the
 * packer's write failed. Every str the server sends goes through here. */
int lr_rpc_pack_str(msgpack_packer *pk, const char *s, size_t len);

/* ---- proto.c: reading request fields ------------------------------------------------------- */

/* Errors of a method: an rpc code (LR_RPC_E*) and a message for the client. */
typedef struct {
    int code;
    char msg[256];
} lr_rpc_fail;

int lr_rpc_failf(lr_rpc_fail *f, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* params: nil, a map, or an array holding one map; *map gets the map (NULL for nil). */
int lr_rpc_params_map(const msgpack_object *params, const msgpack_object **map, lr_rpc_fail *f);
/* The value of key `name` (str or bin keys), NULL when absent or nil. */
const msgpack_object *lr_rpc_field(const msgpack_object *map, const char *name);
/* A str or bin as (pointer, length); 0 when it is neither. */
int lr_rpc_as_str(const msgpack_object *o, const char **s, size_t *len);
int lr_rpc_get_int(const msgpack_object *map, const char *name, int64_t def, int64_t min, int64_t max,
                   int64_t *out, lr_rpc_fail *f);
int lr_rpc_get_bool(const msgpack_object *map, const char *name, int def, int *out, lr_rpc_fail *f);
/* An array of integer ids (at most max, else too_large); *ids is malloc'd (NULL when empty). */
int lr_rpc_get_ids(const msgpack_object *o, const char *what, size_t max, int64_t **ids, size_t *n,
                   lr_rpc_fail *f);
/* An array of exactly dim finite numbers into out. */
int lr_rpc_get_vector(const msgpack_object *o, const char *what, size_t dim, float *out, lr_rpc_fail *f);

/* ---- idmap.c: item id -> row (added items, removed ids) -------------------------------------- */

typedef struct {
    int64_t *keys, *vals;
    size_t count, cap;
} lr_idmap;

int64_t lr_rpc_idmap_get(const lr_idmap *m, int64_t id); /* -1: absent */
/* val >= 0 sets; val -1 marks the id absent again (its slot stays until the map grows). */
int lr_rpc_idmap_put(lr_idmap *m, int64_t id, int64_t val); /* -1: out of memory */
void lr_rpc_idmap_clear(lr_idmap *m);

/* ---- engine.c: what the methods do (engine calls are safe from many threads) --------------- */

typedef struct lr_towers_ws lr_towers_ws;

size_t lr_rpc_engine_dim(const lr_rpc_engine *e);         /* D of user and item vectors */
size_t lr_rpc_engine_content_dim(const lr_rpc_engine *e); /* 0 in id mode */
size_t lr_rpc_engine_max_len(const lr_rpc_engine *e);     /* the user tower's window */

/* The user vector of a history (oldest first); ids the engine does not know are skipped and
 * copied to unknown (capacity len), *n_unknown how many. *empty: nothing was left to read (out
 * is then zeros). */
int lr_rpc_engine_encode(lr_rpc_engine *e, lr_towers_ws *ws, const int64_t *hist, size_t len,
                         float *out, int64_t *unknown, size_t *n_unknown, int *empty, lr_rpc_fail *f);

/* ---- filter.c: a request's `filter` (docs/rpc.md) ----------------------------------------- */

#define LR_RPC_MAX_CLAUSES 32

typedef struct {
    char attr[64];
    const msgpack_object *values; /* a str or an array of str, inside the request */
    int deny;
} lr_rpc_clause;

typedef struct {
    int present; /* the request gave a filter (an empty map filters nothing) */
    lr_rpc_clause clause[LR_RPC_MAX_CLAUSES];
    size_t n;
    int64_t *allow_ids, *deny_ids; /* malloc'd */
    size_t n_allow, n_deny;
    int has_allow;
    /* `max_per`: at most cap_max[i] results share a value of cap_attr[i] */
    char cap_attr[16][64];
    size_t cap_max[16], n_caps;
} lr_rpc_filter;

/* Reads the filter object o (NULL: none) with at most max values or ids per list; it points into
 * o, which must outlive it. */
int lr_rpc_filter_read(const msgpack_object *o, size_t max, lr_rpc_filter *flt, lr_rpc_fail *f);
void lr_rpc_filter_free(lr_rpc_filter *flt);
/* Reads `max_per` ({attribute: cap >= 1}, NULL: none) into flt. */
int lr_rpc_caps_read(const msgpack_object *o, lr_rpc_filter *flt, lr_rpc_fail *f);
/* The index's filter for a version's attributes (NULL: it has none), the excluded ids denied too. */
int lr_rpc_filter_compile(const lr_rpc_filter *flt, const lr_index_attrs *attrs, const int64_t *exclude,
                          size_t n_exclude, lr_index_filter **out, lr_err *err);

/* Top k of the index for a vector that pass flt (NULL: no filter), without the excluded ids
 * (sorted, n_exclude), at nprobe (0: the version's own). hits: k long; *n_hits how many were
 * found: fewer than k only when fewer pass. served (may be NULL) gets the name of the version
 * that answered, read under the same lock as the search: a reload cannot come between. */
int lr_rpc_engine_search(lr_rpc_engine *e, const float *vec, size_t k, size_t nprobe, const lr_rpc_filter *flt,
                         const int64_t *exclude, size_t n_exclude, lr_rpc_hit *hits, size_t *n_hits,
                         char served[32], lr_rpc_fail *f);

/* The most popular items of the training data (the answer to an empty history); none without
 * data. served: as for lr_rpc_engine_search (the filter is the version's). */
int lr_rpc_engine_popular(lr_rpc_engine *e, size_t k, const lr_rpc_filter *flt, const int64_t *exclude,
                          size_t n_exclude, lr_rpc_hit *hits, size_t *n_hits, char served[32], lr_rpc_fail *f);

typedef struct {
    int known, in_index, added;
    const char *text; /* NULL when unknown; valid while the engine lives */
} lr_rpc_item_info;

/* The item tower's vector of each id (n * dim into out): catalogue items from their content
 * row, added ones from theirs. An id the server does not know is not_found. */
int lr_rpc_engine_item_vectors(lr_rpc_engine *e, const int64_t *ids, size_t n, float *out, lr_rpc_fail *f);

/* What the server knows of item id. When the served version has attributes and attrs is not
 * NULL, packs {name: [value, ...], ...} for every attribute into attrs (the item's values, none
 * for an item outside the catalogue), under the same read lock: a reload cannot pull them away.
 * -1 when attrs could not grow (out of memory), else 0. */
int lr_rpc_engine_item(lr_rpc_engine *e, int64_t id, lr_rpc_item_info *info, msgpack_sbuffer *attrs);

/* add_items' per-item `attributes` (added_attrs.c): item i's entries are entries[off[i] ..
 * off[i+1]), pointing into the request (valid while it is). */
typedef struct {
    lr_index_item_values *entries;
    size_t *off; /* items + 1 */
    const char **values;
    size_t *lens;
} lr_rpc_added_attrs;
int lr_rpc_added_attrs_read(const msgpack_object *items, size_t max, lr_rpc_added_attrs *a, lr_rpc_fail *f);
void lr_rpc_added_attrs_free(lr_rpc_added_attrs *a);

/* New items: text (needs the encoder) or a content row each (NULL text / NULL content where
 * absent), and their attributes as lr_rpc_added_attrs_read gives them (checked against the
 * served version's). All are checked before any is added. */
int lr_rpc_engine_add(lr_rpc_engine *e, size_t n, const int64_t *ids, const char *const *texts,
                      const size_t *text_lens, const float *const *contents, const lr_rpc_added_attrs *attrs,
                      lr_rpc_fail *f);
int lr_rpc_engine_remove(lr_rpc_engine *e, size_t n, const int64_t *ids, size_t *removed, lr_rpc_fail *f);
/* Loads version (NULL: current) of the index directory, which must lead to a directory inside
 * its versions/ (lr_rpc_version_resolve), and swaps it in. */
int lr_rpc_engine_reload(lr_rpc_engine *e, const char *version, char version_out[32], size_t *count,
                         lr_rpc_fail *f);

typedef struct {
    char version[32], factory[160];
    size_t count, dim, nprobe, depth, added, removed, n_items;
    const char *model_checksum;
} lr_rpc_engine_stats;

void lr_rpc_engine_get_stats(lr_rpc_engine *e, lr_rpc_engine_stats *st);
/* Why the server takes no new work now: "draining" once it was told to stop (leaving, may be
 * NULL), "reloading" while a reload loads another version (e may be NULL); NULL when ready.
 * No lock: /healthz and ping ask it per request. */
const char *lr_rpc_engine_unready(lr_rpc_engine *e, const atomic_int *leaving);

/* ---- metrics.c: counters the workers bump and /metrics renders ---------------------------- */

#define LR_RPC_N_METHODS 11 /* the methods of methods.c, plus one slot for unknown names */
#define LR_RPC_N_CODES 10   /* 0 = ok, then the wire error codes 1 .. 9 */
#define LR_RPC_N_BUCKETS 13
/* why a connection was closed for time: a frame begun and not finished, nothing to do, its
 * answers not taken (/metrics: learnrec_connections_timed_out_total{reason}) */
enum { LR_RPC_TIMEOUT_FRAME, LR_RPC_TIMEOUT_IDLE, LR_RPC_TIMEOUT_WRITE, LR_RPC_N_TIMEOUTS };

typedef struct {
    atomic_ullong requests[LR_RPC_N_METHODS][LR_RPC_N_CODES];
    atomic_ullong latency[LR_RPC_N_BUCKETS]; /* counts per bucket (not cumulative) */
    atomic_ullong latency_us_sum, unknown_ids, connections;
    atomic_long queue_depth;
    /* connections: open now, refused at --max-connections, closed by each timeout, accept()
     * failures (out of descriptors), and answers not yet taken by the kernel (set by the loop
     * thread when /metrics is rendered) */
    atomic_long conns_open;
    atomic_ullong conns_refused, timeouts[LR_RPC_N_TIMEOUTS], accept_errors;
    atomic_ullong output_bytes;
    double started; /* monotonic seconds at server start */
} lr_rpc_metrics;

void lr_rpc_metrics_observe(lr_rpc_metrics *m, int method, int code, double seconds);
/* Prometheus text exposition; malloc'd, the caller frees (NULL: out of memory). */
char *lr_rpc_metrics_render(const lr_rpc_metrics *m, lr_rpc_engine *e);

/* ---- methods.c: the method table and one request's work ----------------------------------- */

typedef struct {
    lr_rpc_engine *engine;
    lr_towers_ws *ws; /* this worker's */
    const lr_rpc_server_config *cfg;
    lr_rpc_metrics *metrics;
    const atomic_int *leaving; /* the server was told to stop (may be NULL) */
} lr_rpc_ctx;

/* The index of a method name in the table, or LR_RPC_N_METHODS - 1 when unknown. */
int lr_rpc_method_find(const char *name, size_t len);
const char *lr_rpc_method_name(int method); /* "unknown" for the last slot */

/* Runs a method: packs the result into pk and returns LR_RPC_OK, or returns a wire code with
 * f filled (pk's contents are then to be discarded). */
int lr_rpc_method_run(lr_rpc_ctx *c, int method, const msgpack_object *params, msgpack_packer *pk,
                      lr_rpc_fail *f);

#endif
